"""Audit profiles: how much of the protocol a run measures when it is not told.

``quick`` (the default) measures every audit with every threshold and the same
statistics as ``full``, on fewer images of the built-in probe set, so that the
first run ends in minutes on a laptop; with fewer images the intervals are
wider, and a case the sample cannot settle is inconclusive, never a pass (see
the README's *Verdicts*). ``full`` is the protocol of the papers: every image.
A folder of your own (``--audit-data``) is used whole under either profile,
and ``--audit-max-images`` overrides both.

Examples
--------
>>> resolve_max_images("quick", None, data=None)
120
>>> resolve_max_images("full", None, data=None) is None
True
>>> resolve_max_images("quick", None, data="photos/") is None
True
>>> resolve_max_images("quick", 36, data=None)
36
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from auditkit.errors import ConfigError

if TYPE_CHECKING:
    from auditkit.run_config import RunConfig


@dataclass(frozen=True)
class Profile:
    """One profile: the source images it measures (None: all) and what it is for."""

    max_images: int | None
    description: str


#: The profiles by name; the first is the default.
PROFILES: dict[str, Profile] = {
    # 20 per class of the built-in set: 720 JPEG rows, enough for the 0.5 tier
    # to be settled and for most 0.1 cases to be, at half the time of "full".
    "quick": Profile(120, "120 of the built-in set's 240 images (class-balanced): the first "
                          "run, in minutes"),
    "full": Profile(None, "every image of the probe set: the protocol of the papers"),
}
DEFAULT_PROFILE = next(iter(PROFILES))


def check_profile(name: str, origin: str = "--audit-profile") -> Profile:
    """The profile called ``name``, or a :class:`ConfigError` naming the choices."""
    if not isinstance(name, str) or name not in PROFILES:
        raise ConfigError(f"{origin}={name!r}: expected one of {', '.join(PROFILES)}")
    return PROFILES[name]


def resolve_max_images(profile: str, given: int | None, data: str | None) -> int | None:
    """The run's image cap: ``--audit-max-images`` when given, else the profile's.

    The profile caps only the built-in probe set (``data`` None): a folder of
    the user's is what they chose to audit, and a cap there could leave a
    camera too few photos.
    """
    if given is not None:
        return given
    cap = check_profile(profile).max_images
    return cap if data is None else None


def profile_note(run: RunConfig) -> str:
    """The terminal's line on a capped run: what the profile left out, and the way to all of it."""
    profile = PROFILES.get(run.profile)
    if profile is None or profile.max_images is None or run.max_images != profile.max_images:
        return ""
    return (f"profile {run.profile}: {run.max_images} source images, the verdicts' statistics "
            "unchanged (wider intervals, more inconclusive); --audit-profile full measures all")
