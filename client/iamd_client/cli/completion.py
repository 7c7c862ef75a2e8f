"""`iamctl completion bash|zsh`: a completion script for the shell.

The script holds the command names and each command's flags (no Python runs on Tab):

    source <(iamctl completion bash)     # in ~/.bashrc
    source <(iamctl completion zsh)      # in ~/.zshrc (uses zsh's bashcompinit)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TextIO

from iamd_client.cli import apply, configure, who_can
from iamd_client.cli.commands import LOCAL_COMMANDS, NAMESPACES, commands_in, rpc_commands
from iamd_client.cli.flags import HelpFormatter, command_parser
from iamd_client.cli.options import OPTIONS, OUTPUT_FORMATS
from iamd_client.cli.usage import Parser

SHELLS = ("bash", "zsh")

_BASH = """\
# bash completion for iamctl; load with: source <(iamctl completion bash)
_iamctl_flags() {
    case "$1" in
__FLAGS__
    esac
}

_iamctl() {
    local cur="${COMP_WORDS[COMP_CWORD]}" prev="" word ns="" cmd="" i words
    if (( COMP_CWORD > 0 )); then prev="${COMP_WORDS[COMP_CWORD-1]}"; fi
    case "$prev" in
        --output|--default-output) COMPREPLY=($(compgen -W "__OUTPUTS__" -- "$cur")); return 0 ;;
        __VALUE_OPTIONS__) COMPREPLY=(); return 0 ;;
    esac
    for (( i = 1; i < COMP_CWORD; i++ )); do
        word="${COMP_WORDS[i]}"
        case "$word" in
            __VALUE_OPTIONS__) (( i++ )); continue ;;
            -*) continue ;;
        esac
        if [[ -z "$ns" && " __NAMESPACES__ " == *" $word "* ]]; then
            ns="$word"
        else
            cmd="$word"
            break
        fi
    done
    if [[ -n "$cmd" ]]; then
        words="$(_iamctl_flags "$cmd") __GLOBALS__"
    elif [[ "$cur" == -* ]]; then
        words="__GLOBALS__"
    else
        case "$ns" in
__NAMESPACE_COMMANDS__
            *) words="__NAMESPACES__ __ALL_COMMANDS__" ;;
        esac
    fi
    COMPREPLY=($(compgen -W "$words" -- "$cur"))
    return 0
}
complete -o default -F _iamctl iamctl
"""

_ZSH_PREFIX = """\
# zsh completion for iamctl; load with: source <(iamctl completion zsh)
autoload -U +X compinit && compinit
autoload -U +X bashcompinit && bashcompinit
"""


def _options(parser: Parser) -> list[str]:
    return sorted({s for a in parser._actions for s in a.option_strings if s.startswith("--")})


def bash_script() -> str:
    flags: dict[str, list[str]] = {
        c.name: _options(command_parser(c, c.name)) for c in rpc_commands().values()
    }
    flags["configure"] = _options(configure.parser())
    flags["apply"] = _options(apply.parser())
    flags["completion"] = []
    flags["who-can"] = _options(who_can.who_can_parser())
    flags["what-can"] = _options(who_can.what_can_parser())
    flags["help"] = [*NAMESPACES, *rpc_commands(), *LOCAL_COMMANDS]
    cases = "\n".join(
        f'        {name}) echo "{" ".join(f for f in options if f != "--marker")}" ;;'
        for name, options in flags.items()
    )
    value_options = "|".join(
        [o.name for o in OPTIONS if o.metavar and o.name != "--output"]
        + ["--starting-token", "--credentials-file"]
    )
    namespace_cases = "\n".join(
        f'            {ns}) words="{" ".join(c.name for c in commands_in(ns))} help" ;;'
        for ns in NAMESPACES
    )
    script = _BASH
    for marker, value in (
        ("__FLAGS__", cases),
        ("__VALUE_OPTIONS__", value_options),
        ("__NAMESPACE_COMMANDS__", namespace_cases),
        ("__OUTPUTS__", " ".join(OUTPUT_FORMATS)),
        ("__NAMESPACES__", " ".join(NAMESPACES)),
        ("__ALL_COMMANDS__", " ".join([*rpc_commands(), *LOCAL_COMMANDS])),
        ("__GLOBALS__", " ".join(o.name for o in OPTIONS)),
    ):
        script = script.replace(marker, value)
    return script


def script(shell: str) -> str:
    return _ZSH_PREFIX + bash_script() if shell == "zsh" else bash_script()


def parser(prog: str = "iamctl completion") -> Parser:
    p = Parser(
        prog=prog,
        description=__doc__.split("\n\n", 1)[1] if __doc__ else None,
        formatter_class=HelpFormatter,
        allow_abbrev=False,
    )
    p.add_argument("shell", choices=SHELLS, help="the shell to complete in")
    return p


def run(argv: Sequence[str], out: TextIO) -> int:
    args = parser().parse_args(argv)
    out.write(script(args.shell))
    return 0
