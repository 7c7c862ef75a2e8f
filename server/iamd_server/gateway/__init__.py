"""HTTP gateways: iamd decides on plain HTTP requests for a proxy in front of a service
(Envoy's ext_authz Check, nginx / Caddy / Traefik forward-auth), from the HTTP bindings of
the service's definition."""
