"""A lecture's check-ins through 10-slot access points, as a discrete-event simulation in simulated
time (seconds from the session start, when the devices start broadcasting the session's SSID): who
arrives when, how long each phone holds a slot, what a student does when every slot is taken. No
sockets and no clock; a seeded `random.Random` makes a run repeatable. The bench's capacity part
(`bench/capacity.py`) runs it over many seeds and the controller's device count for `--students N`
(`controller/core/capacity.py`) follows from its table.

The device's slot policy is the firmware's (`firmware/lib/fleet_core/src/fleet_core/stations.h`):
the constants below name the ones they mirror, and tests/unit/sim/test_lecture.py reads the headers
to keep them equal. Why each distribution is what it is: README, "Big lectures".
"""

from __future__ import annotations

import heapq
import math
import random
from dataclasses import dataclass, field
from typing import Final

from controller.contract.messages import AP_SLOTS

RELEASE_GRACE_S: Final = 3.0
"""From the confirmation page to the release, with recycling (`kReleaseGraceMs`)."""
STATION_IDLE_S: Final = 60.0
"""A phone that asks the portal nothing this long is dropped, with recycling (`kStationIdleMs`)."""
LECTURE_S: Final = 90 * 60.0
"""A lecture; a student not checked in by its end is "not within the lecture"."""


@dataclass(frozen=True, slots=True)
class Arrivals:
    """When each student first tries: most are seated when the session starts and react to the
    lecturer's "check in now", the rest come in over the first minutes, a few late."""

    seated: float = 0.70
    reaction_mean_s: float = 30.0  # exponential: phones come out over the first minute
    on_time: float = 0.27  # uniform over the first `on_time_s`
    on_time_s: float = 180.0
    late_until_s: float = 900.0  # the rest: uniform from `on_time_s` to here

    def draw(self, rng: random.Random) -> float:
        u = rng.random()
        if u < self.seated:
            return rng.expovariate(1.0 / self.reaction_mean_s)
        if u < self.seated + self.on_time:
            return rng.uniform(0.0, self.on_time_s)
        return rng.uniform(self.on_time_s, self.late_until_s)


@dataclass(frozen=True, slots=True)
class Phone:
    """What one attempt costs: association and DHCP, then the captive portal, typing the id and the
    confirmation; some phones join and then nobody looks at them for a while; a refused phone tries
    again after a back-off."""

    associate_s: tuple[float, float] = (2.0, 6.0)  # uniform: scan, join, DHCP, captive-portal probe
    portal_median_s: float = 20.0  # lognormal: the portal page, typing the id, the confirmation
    portal_sigma: float = 0.5  # 5-95 %: 9 to 45 s
    distracted: float = 0.05  # joined, but the portal notification was missed
    distraction_mean_s: float = 45.0  # exponential: until the student looks again
    backoff_s: tuple[float, float] = (5.0, 30.0)  # uniform: the phone's own retry to a person's re-tap

    def associate(self, rng: random.Random) -> float:
        return rng.uniform(*self.associate_s)

    def portal(self, rng: random.Random) -> float:
        return rng.lognormvariate(math.log(self.portal_median_s), self.portal_sigma)

    def distraction(self, rng: random.Random) -> float | None:
        return rng.expovariate(1.0 / self.distraction_mean_s) if rng.random() < self.distracted else None

    def backoff(self, rng: random.Random) -> float:
        return rng.uniform(*self.backoff_s)


@dataclass(frozen=True, slots=True)
class Lecture:
    students: int
    devices: int = 1
    recycle: bool = True
    """False: the device releases nobody; a phone keeps its slot until its student leaves the room,
    after the lecture (the firmware before issue 13, or `fleet-device --no-recycle`)."""
    slots: int = AP_SLOTS
    length_s: float = LECTURE_S
    arrivals: Arrivals = field(default_factory=Arrivals)
    phone: Phone = field(default_factory=Phone)


@dataclass(frozen=True, slots=True)
class Outcome:
    lecture: Lecture
    checkins: tuple[float, ...]
    """When each checked-in student's confirmation was served, in order; within the lecture."""
    refused: int
    """Attempts that found every slot of every device taken."""

    def time_to(self, fraction: float) -> float | None:
        """Seconds until `fraction` of the students are checked in; None: not within the lecture."""
        need = max(1, math.ceil(fraction * self.lecture.students - 1e-9))
        return self.checkins[need - 1] if len(self.checkins) >= need else None


@dataclass
class _Run:
    """The mutable state of one simulated lecture: slots in use per device and the event queue."""

    lecture: Lecture
    rng: random.Random
    used: list[int]
    events: list[tuple[float, int, int]] = field(default_factory=list)  # (time, order, device or -1)
    checkins: list[float] = field(default_factory=list)
    refused: int = 0
    order: int = 0

    def push(self, at: float, device: int) -> None:
        """An attempt (device -1) or a slot released on `device`, at `at`."""
        if at <= self.lecture.length_s:
            self.order += 1
            heapq.heappush(self.events, (at, self.order, device))

    def attempt(self, now: float) -> None:
        free = [d for d, n in enumerate(self.used) if n < self.lecture.slots]
        if not free:
            self.refused += 1
            if self.lecture.recycle:  # without recycling no slot ever frees: this student waits in vain
                self.push(now + self.lecture.phone.backoff(self.rng), -1)
            return
        device = self.rng.choice(free)
        self.used[device] += 1
        self.hold(device, now + self.lecture.phone.associate(self.rng))

    def hold(self, device: int, joined: float) -> None:
        """The phone joined `device` at `joined`: its check-in, and when it lets the slot go."""
        phone, recycle = self.lecture.phone, self.lecture.recycle
        away = phone.distraction(self.rng)
        if away is not None and recycle and away >= STATION_IDLE_S:
            self.push(joined + STATION_IDLE_S, device)  # dropped idle; the student starts over
            self.push(joined + away, -1)
            return
        done = joined + (away or 0.0) + phone.portal(self.rng)
        if done <= self.lecture.length_s:
            self.checkins.append(done)
        if recycle:
            self.push(done + RELEASE_GRACE_S, device)

    def run(self) -> Outcome:
        for _ in range(self.lecture.students):
            self.push(self.lecture.arrivals.draw(self.rng), -1)
        while self.events:
            now, _, device = heapq.heappop(self.events)
            if device < 0:
                self.attempt(now)
            else:
                self.used[device] -= 1
        return Outcome(self.lecture, tuple(sorted(self.checkins)), self.refused)


def simulate(lecture: Lecture, rng: random.Random) -> Outcome:
    """One lecture: every student's attempts until checked in or the lecture ends."""
    if lecture.students < 1 or lecture.devices < 1 or lecture.slots < 1:
        raise ValueError(f"a lecture needs students, devices and slots: {lecture}")
    return _Run(lecture, rng, [0] * lecture.devices).run()
