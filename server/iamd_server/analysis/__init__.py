"""Who can do what, and what a policy change would do: answers computed from the stored
policies with the compiled engine; nothing here writes."""
