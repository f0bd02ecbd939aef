"""Datetimes on the wire: UTC with Z, microseconds only when there are some, naive means UTC."""

from datetime import UTC, datetime, timedelta, timezone

from sitin.core.timefmt import parse_wire, to_wire


def test_to_wire_formats_utc_with_z_and_microseconds_only_when_non_zero():
    assert to_wire(datetime(2024, 1, 18, 12, 34, 56)) == "2024-01-18T12:34:56Z"
    assert to_wire(datetime(2024, 1, 18, 12, 34, 56, 1500)) == "2024-01-18T12:34:56.001500Z"
    assert to_wire(datetime(2024, 1, 18, 12, 34, 56, tzinfo=UTC)) == "2024-01-18T12:34:56Z"
    paris = timezone(timedelta(hours=1))
    assert to_wire(datetime(2024, 1, 18, 13, 34, 56, 7, tzinfo=paris)) == (
        "2024-01-18T12:34:56.000007Z"
    )
    assert to_wire(None) is None


def test_wire_text_reads_back_as_the_same_instant():
    value = datetime(2024, 1, 18, 12, 34, 56, 123456, tzinfo=UTC)
    assert parse_wire(to_wire(value)) == value
