"""Durations as the agents' parameters and the alert's settings are written:
``2``, ``2s``, ``500ms``, ``1min``, ``1h`` (OCF's type "time"), parsed in one
place for the OCF agents and sip-ha-alert."""

from __future__ import annotations


class Duration(float):
    """Seconds; written as ``2``, ``2s``, ``500ms``, ``1min`` (OCF type "time")."""

    _UNITS = (("ms", 0.001), ("msec", 0.001), ("s", 1.0), ("sec", 1.0),
              ("m", 60.0), ("min", 60.0), ("h", 3600.0), ("hr", 3600.0))

    @classmethod
    def parse(cls, text: str) -> Duration:
        raw = text.strip().lower()
        number, unit = raw, "s"
        for suffix, _ in sorted(cls._UNITS, key=lambda u: -len(u[0])):
            if raw.endswith(suffix) and raw[: -len(suffix)].strip():
                number, unit = raw[: -len(suffix)].strip(), suffix
                break
        value = float(number) * dict(cls._UNITS)[unit]
        if not 0 <= value < float("inf"):
            raise ValueError(text)
        return cls(value)
