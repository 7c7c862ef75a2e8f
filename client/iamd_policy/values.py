"""Parsers for typed values shared by context entries and condition operators.

Every parser returns None for text it cannot parse instead of raising, because a value that
fails to parse simply matches nothing during evaluation (iam-semantics 4.2).
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import ipaddress
from decimal import Decimal, InvalidOperation

__all__ = ["parse_binary", "parse_bool", "parse_date", "parse_ip", "parse_number"]

IpNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_UTC = dt.UTC


def parse_number(text: str) -> Decimal | None:
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        value = Decimal(text)
    except (InvalidOperation, ValueError):
        return None
    if not value.is_finite():
        return None
    return value


def parse_date(text: str) -> float | None:
    """ISO-8601 (W3C profile; date only = midnight UTC) or epoch seconds -> epoch seconds."""
    text = text.strip()
    if not text or len(text) > 64:
        return None
    if text.isascii() and text.lstrip("-").replace(".", "", 1).isdigit():
        try:
            return float(text)
        except ValueError:
            return None
    try:
        if len(text) == 10:
            day = dt.date.fromisoformat(text)
            stamp = dt.datetime(day.year, day.month, day.day, tzinfo=_UTC)
        else:
            stamp = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=_UTC)
    try:
        return stamp.timestamp()
    except (OverflowError, ValueError):
        return None


def parse_bool(text: str) -> bool | None:
    lowered = text.strip().lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    return None


def parse_ip(text: str) -> IpNetwork | None:
    """An address (as a /32 or /128 network) or a CIDR block.

    An IPv4-mapped IPv6 address or block (`::ffff:192.0.2.1`, `::ffff:192.0.2.0/120`) is the
    IPv4 one it stands for: a dual-stack socket reports IPv4 clients that way, and the client
    is an IPv4 client (it is in 192.0.2.0/24 and in 0.0.0.0/0, not in ::/0).
    """
    text = text.strip()
    if not text or len(text) > 64:
        return None
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if isinstance(network, ipaddress.IPv6Network) and network.prefixlen >= 96:
        mapped = network.network_address.ipv4_mapped
        if mapped is not None:
            return ipaddress.IPv4Network((mapped, network.prefixlen - 96))
    return network


def parse_binary(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        return None
