"""The events of an app: its catalogue, its generated background activity and
the events clients sent it (no HTTP here).

What exports write and what the lookups list come from here, so that they
agree: an interaction event names a flow, checklist, banner, spotlight or
survey of the catalogue; a ``track_feature`` event a feature of it; every
metadata key an event carries is a listed property.

- The **catalogue** of an app (:func:`catalogue`): users and their companies,
  flows, checklists, banners, cards, spotlights, surveys, resource center
  modules, features, trackable events and segments, drawn from
  ``random.Random(f"{seed}:{app token}:catalogue")``.
- **Background activity** (:func:`background`): events in hourly blocks, each
  block drawn from its own generator (seed, app token, hour), so any time
  range is generated without the ones before it and the same seed and app
  always give the same events. It starts :data:`BACKGROUND_DAYS` days before
  the app was first seen and goes on as the clock does.
- **Events sent** (:func:`record_of`, :func:`sent_events`): users and
  companies of bulk identify jobs, real-time calls and the rows of imports,
  kept in the store (at most :data:`MAX_APP_EVENTS` events and
  :data:`MAX_APP_EVENT_BYTES` bytes per app, oldest dropped first), each
  visible from an instant (a job's end; at once for a real-time call).

An event is a tuple in :data:`COLUMNS` order without ``app_token`` (see
:data:`FIELDS`); ``inserted_at`` is whole microseconds since the epoch, UTC.
"""
from __future__ import annotations

import heapq
import random
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import lru_cache
from operator import itemgetter

#: Columns of an exported event, in the export event schema's order
#: (event-schema page, article 321; docs/domain.md, "Exports").
COLUMNS = ("app_token", "event_type", "event_name", "user_id", "company_id", "source", "inserted_at",
           "hostname", "pathname", "screen_width", "screen_height", "device_type", "user_agent",
           "operating_system", "browser", "browser_language", "session", "country_code", "metadata")
#: An event tuple's fields (COLUMNS without app_token).
FIELDS = COLUMNS[1:]
T = FIELDS.index("inserted_at")
EVENT_TYPE, EVENT_NAME, USER_ID, COMPANY_ID, SOURCE = 0, 1, 2, 3, 4
METADATA = len(FIELDS) - 1
#: The auto-captured fields (article 321), present on web-client events only.
AUTO_FIELDS = FIELDS[T + 1:METADATA]

#: Every event type of the export event schema (``session_start`` from its newer copies).
EVENT_TYPES = ("identify_user", "identify_company", "interaction", "track", "track_feature", "page_view",
               "session_start")
#: Export event sources (event-schema page; imports add ``backend-http-import``).
SOURCES = ("web-client", "backend-http", "backend-hubspot", "backend-salesforce", "backend-segment",
           "backend-http-import")
#: Interaction statuses used (``SEEN``, ``DISMISSED`` documented; ``COMPLETED`` assumed).
INTERACTION_STATUSES = ("SEEN", "COMPLETED", "DISMISSED")

DAY = 86_400
HOUR = 3_600
MICRO = 1_000_000
#: Background activity starts this many days before an app is first seen.
BACKGROUND_DAYS = 90
#: Events kept per app from what clients sent (the documented limit; oldest first out).
MAX_APP_EVENTS = 10_000
#: ... and at most this many bytes of their JSON.
MAX_APP_EVENT_BYTES = 8 * 1024 * 1024

#: Share of each event type in background activity (assumption, for realism).
_TYPE_WEIGHTS = (("page_view", 35), ("session_start", 10), ("track", 15), ("track_feature", 12),
                 ("interaction", 18), ("identify_user", 7), ("identify_company", 3))
_TYPES = tuple(t for t, _w in _TYPE_WEIGHTS)
_TYPE_CUM = tuple(sum(w for _t, w in _TYPE_WEIGHTS[: i + 1]) for i in range(len(_TYPE_WEIGHTS)))
#: Relative activity by UTC hour of day: quiet nights, busy working hours.
_HOUR_WEIGHTS = (3, 2, 2, 2, 2, 3, 5, 8, 11, 12, 12, 12, 11, 12, 12, 12, 11, 10, 8, 7, 6, 5, 4, 3)
_HOUR_TOTAL = sum(_HOUR_WEIGHTS)

_FIRST = ("Ava", "Liam", "Noah", "Emma", "Olivia", "Mia", "Lucas", "Sofia", "Ethan", "Zoe", "Omar", "Lena",
          "Ravi", "Yuki", "Ines", "Mateo", "Nora", "Kofi", "Anya", "Jonas")
_LAST = ("Smith", "Garcia", "Chen", "Müller", "Okafor", "Rossi", "Kowalski", "Nguyen", "Silva", "Haddad",
         "Johansson", "Patel", "Dubois", "Kim", "Novak", "Ortiz")
_COMPANY_WORDS = ("Acme", "Globex", "Initech", "Umbrella", "Stark", "Wayne", "Hooli", "Vandelay", "Soylent",
                  "Cyberdyne", "Tyrell", "Aperture", "Wonka", "Gringotts", "Oscorp", "Massive")
_COMPANY_SUFFIXES = ("Inc", "LLC", "Group", "Labs", "GmbH", "Ltd")
_INDUSTRIES = ("SaaS", "Fintech", "Healthcare", "Retail", "Education", "Logistics")
_PLANS = ("free", "starter", "growth", "enterprise")
_ROLES = ("admin", "member", "viewer", "owner")
_PAGES = ("/", "/dashboard", "/projects", "/projects/new", "/reports", "/settings", "/settings/billing",
          "/team", "/integrations", "/help", "/onboarding", "/analytics")
_FLOW_TITLES = ("Onboarding Flow", "Welcome Tour", "Feature Launch", "Upgrade Prompt", "Reports Walkthrough",
                "Integrations Tour", "Billing Update", "NPS Follow-up", "Team Invite Flow", "Dashboard Tips")
_CHECKLIST_TITLES = ("Getting Started", "Set Up Your Workspace", "Invite Your Team", "First Report")
_TASKS = ("Create a project", "Invite a teammate", "Connect an integration", "Build a report", "Set a goal")
_BANNER_TITLES = ("Promo Banner", "Maintenance Notice", "Webinar Invite", "New Pricing")
_CARD_TITLES = ("Feature Card", "Tip of the Week", "Case Study Card")
_SPOTLIGHT_TITLES = ("New Feature Spotlight", "Shortcut Hint", "Export Button Hotspot", "Search Tip")
_SURVEY_TITLES = ("CSAT Survey", "NPS Survey", "Feature Feedback")
_RC_MODULES = ("Knowledge Base", "Video Tutorials", "Contact Support", "What's New", "Live Chat")
_FEATURES = ("export_button", "share_dialog", "report_builder", "dark_mode_toggle", "search_bar",
             "bulk_edit", "csv_upload", "api_keys_page", "calendar_view", "comment_thread", "filters_panel",
             "template_gallery")
#: Trackable events and the properties they carry: name -> ((key, kind), ...).
_TRACK_EVENTS = (
    ("Report Exported", (("format", "choice"), ("rows", "int"))),
    ("Project Created", (("template", "choice"), ("is_first", "bool"))),
    ("Invite Sent", (("role", "choice"), ("invitees", "int"))),
    ("Plan Upgraded", (("plan", "choice"), ("amount", "float"))),
    ("Integration Connected", (("provider", "choice"),)),
    ("Search Performed", (("query_length", "int"), ("results", "int"))),
    ("File Uploaded", (("size_kb", "int"), ("file_type", "choice"))),
    ("Comment Added", (("length", "int"),)),
    ("Dashboard Viewed", (("widgets", "int"),)),
    ("Subscription Cancelled", (("reason", "choice"),)),
)
_CHOICES = {"format": ("pdf", "csv", "xlsx"), "template": ("blank", "kanban", "roadmap"),
            "role": _ROLES, "plan": _PLANS, "provider": ("slack", "hubspot", "salesforce", "segment"),
            "file_type": ("png", "pdf", "csv"), "reason": ("price", "missing_feature", "switched")}
_DEVICES = (("desktop", 1920, 1080, "Windows", "Chrome"), ("desktop", 1440, 900, "macOS", "Safari"),
            ("desktop", 2560, 1440, "macOS", "Chrome"), ("desktop", 1366, 768, "Windows", "Edge"),
            ("desktop", 1920, 1080, "Linux", "Firefox"), ("mobile", 390, 844, "iOS", "Safari"),
            ("mobile", 412, 915, "Android", "Chrome"), ("tablet", 820, 1180, "iPadOS", "Safari"))
_AGENTS = {
    ("Windows", "Chrome"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/124.0.0.0 Safari/537.36",
    ("macOS", "Safari"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                         "Version/17.4 Safari/605.1.15",
    ("macOS", "Chrome"): "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/124.0.0.0 Safari/537.36",
    ("Windows", "Edge"): "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
                         "Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
    ("Linux", "Firefox"): "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    ("iOS", "Safari"): "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 "
                       "(KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1",
    ("Android", "Chrome"): "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
                           "Chrome/124.0.0.0 Mobile Safari/537.36",
    ("iPadOS", "Safari"): "Mozilla/5.0 (iPad; CPU OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) "
                          "Version/17.4 Mobile/15E148 Safari/604.1",
}
_LOCALES = (("en-US", "US"), ("en-GB", "GB"), ("de-DE", "DE"), ("fr-FR", "FR"), ("es-ES", "ES"),
            ("pt-BR", "BR"), ("ja-JP", "JP"), ("en-IN", "IN"), ("nl-NL", "NL"), ("en-CA", "CA"))

#: User properties every app lists (auto-captured by Userpilot; assumption after article 321).
AUTO_USER_PROPERTIES = (("email", "Email", "string"), ("name", "Name", "string"),
                        ("created_at", "Created At", "date"), ("last_seen_at", "Last Seen At", "date"),
                        ("browser", "Browser", "string"), ("country_code", "Country Code", "string"),
                        ("device_type", "Device Type", "string"))
AUTO_COMPANY_PROPERTIES = (("company_name", "Company Name", "string"), ("created_at", "Created At", "date"))


def _words(key: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", key.lower()).strip("_")


def data_type(value) -> str:
    """The lookups' ``data_type`` of a metadata value: boolean, numeric,
    date (an ISO 8601 date or date-time string) or string."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "numeric"
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}([T ][\d:.]+(Z|[+-]\d{2}:?\d{2})?)?", value):
        return "date"
    return "string"


@dataclass(frozen=True)
class User:
    user_id: str
    company: int
    metadata: dict
    #: (screen_width, screen_height, device_type, user_agent, operating_system, browser, browser_language,
    #: country_code) and a number for its session ids.
    device: tuple
    salt: int


@dataclass(frozen=True)
class Company:
    company_id: str
    metadata: dict


@dataclass(frozen=True)
class Segment:
    id: int
    title: str
    category: str  # user_id or company_id
    share: int     # per cent of users (or companies) in it
    status: str
    is_hidden: bool
    is_protected: bool

    def contains(self, user_id: str | None, company_id: str | None) -> bool:
        """Whether an event of this user (or, for a company segment, company)
        is in the segment: a stable hash of the id, so any id, sent or
        generated, has an answer."""
        subject = user_id if self.category == "user_id" else company_id
        if not subject:
            return False
        return self.share >= 100 or _bucket(f"{self.id}:{subject}") < self.share


def _bucket(text: str) -> int:
    """0..99, a stable function of ``text`` (FNV-1a, not Python's salted hash)."""
    h = 0xcbf29ce484222325
    for byte in text.encode("utf-8", "surrogatepass"):
        h = ((h ^ byte) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return h % 100


@dataclass(frozen=True)
class Catalogue:
    """What an app has (see the module docstring). Lists of dicts are the
    lookups' items as answered (do not change them)."""

    seed: int
    app_token: str
    hostname: str
    daily_events: int
    users: tuple
    companies: tuple
    flows: tuple
    checklists: tuple
    banners: tuple
    cards: tuple
    spotlights: tuple
    surveys: tuple
    resource_center_modules: tuple
    features: tuple
    track_events: tuple   # (name, ((key, kind), ...))
    segments: tuple

    def interactions(self) -> tuple:
        """``(entity_type, id)`` of every entity an interaction event may name."""
        return (tuple(("experience", f["id"]) for f in self.flows)
                + tuple(("checklist", c["id"]) for c in self.checklists)
                + tuple(("banner", b["id"]) for b in self.banners)
                + tuple(("spotlight", s["id"]) for s in self.spotlights)
                + tuple(("survey", s["id"]) for s in self.surveys))

    def segment(self, segment_id: str) -> Segment | None:
        for seg in self.segments:
            if str(seg.id) == segment_id:
                return seg
        return None


def _ids(rng: random.Random, count: int, low: int, high: int) -> list[int]:
    return sorted(rng.sample(range(low, high), count))


@lru_cache(maxsize=256)
def catalogue(seed: int, app_token: str) -> Catalogue:
    """The catalogue of app ``app_token`` under ``seed`` (built once, cached)."""
    rng = random.Random(f"{seed}:{app_token}:catalogue")
    word = rng.choice(_COMPANY_WORDS).lower()
    hostname = f"app.{word}{rng.randint(1, 99)}.com"
    companies = []
    for i in range(rng.randint(5, 30)):
        name = f"{rng.choice(_COMPANY_WORDS)} {rng.choice(_COMPANY_SUFFIXES)}"
        companies.append(Company(f"company-{i + 1:03d}", {
            "company_name": name, "industry": rng.choice(_INDUSTRIES), "plan": rng.choice(_PLANS),
            "seats": rng.randint(1, 500), "created_at": f"20{rng.randint(19, 25)}-{rng.randint(1, 12):02d}-"
                                                          f"{rng.randint(1, 28):02d}"}))
    users = []
    for i in range(rng.randint(40, 200)):
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        company = rng.randrange(len(companies))
        device = rng.choice(_DEVICES)
        language, country = rng.choice(_LOCALES)
        metadata = {"name": f"{first} {last}", "email": f"{first}.{last}{i}@example.com".lower(),
                    "role": rng.choice(_ROLES), "plan": companies[company].metadata["plan"],
                    "created_at": f"20{rng.randint(19, 25)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}",
                    "logins": rng.randint(1, 900)}
        users.append(User(f"user-{i + 1:04d}", company, metadata,
                          (device[1], device[2], device[0], _AGENTS[(device[3], device[4])], device[3], device[4],
                           language, country), rng.getrandbits(32)))

    def titled(titles, count, low=10, high=999):
        chosen = rng.sample(titles, min(count, len(titles)))
        return [{"id": i, "title": t} for i, t in zip(_ids(rng, len(chosen), low, high), chosen, strict=False)]

    flows = titled(_FLOW_TITLES, rng.randint(3, 10), 100, 999)
    checklists = []
    for i, title in zip(_ids(rng, 4, 1, 50), rng.sample(_CHECKLIST_TITLES, rng.randint(1, 4)), strict=False):
        tasks = [{"id": n + 1, "title": t} for n, t in enumerate(rng.sample(_TASKS, rng.randint(2, 5)))]
        checklists.append({"id": i, "display_name": title, "key": _words(title), "data_type": "string",
                           "tasks": tasks})
    banners = titled(_BANNER_TITLES, rng.randint(1, 4))
    cards = titled(_CARD_TITLES, rng.randint(1, 3))
    spotlights = titled(_SPOTLIGHT_TITLES, rng.randint(1, 4))
    surveys = []
    for s in titled(_SURVEY_TITLES, rng.randint(1, 3)):
        modules = [{"id": 1, "order": 1, "type": "rating", "question": "How likely are you to recommend us?"},
                   {"id": 2, "order": 2, "type": "open_text", "question": "What could we do better?"}]
        surveys.append({**s, "platform": rng.choice(("web", "mobile")), "modules": modules[: rng.randint(1, 2)]})
    modules = [{"display_name": t, "key": _words(t), "data_type": "string"}
               for t in rng.sample(_RC_MODULES, rng.randint(2, 5))]
    features = tuple({"display_name": f.replace("_", " ").title(), "key": f, "data_type": "string"}
                     for f in rng.sample(_FEATURES, rng.randint(4, 12)))
    track = tuple(rng.sample(_TRACK_EVENTS, rng.randint(4, len(_TRACK_EVENTS))))
    segment_titles = ("All Users", "Active Users", "Trial Users", "Power Users", "Churn Risk",
                      "Enterprise Accounts", "New Signups", "Mobile Users", "Admins")
    segments = tuple(Segment(i, segment_titles[n] if n < len(segment_titles) else f"Segment {i}",
                             "company_id" if n % 4 == 3 else "user_id", 100 if n == 0 else rng.randint(5, 60),
                             "published", False, n == 0)
                     for n, i in enumerate(_ids(rng, rng.randint(6, 20), 100, 999)))
    return Catalogue(seed, app_token, hostname, rng.randint(60, 240), tuple(users), tuple(companies),
                     tuple(flows), tuple(checklists), tuple(banners), tuple(cards), tuple(spotlights),
                     tuple(surveys), tuple(modules), features, track, segments)


# -- drawing events --------------------------------------------------------------

_WEB = "web-client"
_BACKEND_SOURCES = ("backend-http", "backend-hubspot", "backend-salesforce", "backend-segment")


def _draw(cat: Catalogue, rng: random.Random, t_us: int, entities: tuple) -> tuple:
    """One background event at ``t_us`` (an event tuple); every draw made
    whatever the event turns out to be, so that filters never change the
    events drawn after it."""
    r_type, r_user, r_pick, r_source, r_value = rng.random(), rng.random(), rng.random(), rng.random(), rng.random()
    point = r_type * _TYPE_CUM[-1]
    event_type = next(_TYPES[i] for i, c in enumerate(_TYPE_CUM) if point < c)
    user = cat.users[int(r_user * len(cat.users))]
    company = cat.companies[user.company]
    name = None
    metadata: dict = {}
    user_id, company_id = user.user_id, company.company_id
    web = r_source < 0.8
    if event_type == "page_view" or event_type == "session_start" or event_type == "interaction" \
            or event_type == "track_feature":
        web = True
    if event_type == "interaction":
        entity, entity_id = entities[int(r_pick * len(entities))]
        name = f"{entity}:{entity_id}:{INTERACTION_STATUSES[int(r_value * 3)]}"
    elif event_type == "track_feature":
        name = cat.features[int(r_pick * len(cat.features))]["key"]
    elif event_type == "track":
        name, props = cat.track_events[int(r_pick * len(cat.track_events))]
        for key, kind in props:
            if kind == "choice":
                choices = _CHOICES[key]
                metadata[key] = choices[int(r_value * len(choices))]
            elif kind == "int":
                metadata[key] = int(r_value * 500) + 1
            elif kind == "float":
                metadata[key] = round(r_value * 300, 2)
            else:
                metadata[key] = r_value < 0.5
    elif event_type == "identify_user":
        metadata = user.metadata
    elif event_type == "identify_company":
        metadata = company.metadata
        user_id = None
    source = _WEB if web else _BACKEND_SOURCES[int(r_value * 4)]
    if web:
        device = user.device
        day = t_us // (DAY * MICRO)
        session = f"{(user.salt ^ (day * 2654435761)) & 0xFFFFFFFF:08x}"
        path = _PAGES[int(r_pick * len(_PAGES))]
        return (event_type, name, user_id, company_id, source, t_us, cat.hostname, path,
                device[0], device[1], device[2], device[3], device[4], device[5], device[6], session, device[7],
                metadata)
    return (event_type, name, user_id, company_id, source, t_us, None, None,
            None, None, None, None, None, None, None, None, None, metadata)


def activity_start(first_seen: int) -> int:
    """The first instant (UTC epoch seconds) of an app's background activity."""
    return first_seen - BACKGROUND_DAYS * DAY


def background(cat: Catalogue, start_us: int, end_us: int) -> Iterator[tuple]:
    """Background events with ``start_us`` <= inserted_at < ``end_us`` (whole
    microseconds since the epoch, UTC), oldest first. Each hour is drawn
    whole from its own generator, whatever part of it the range covers."""
    if end_us <= start_us:
        return
    entities = cat.interactions()
    hour_us = HOUR * MICRO
    hour = start_us // hour_us
    last = (end_us - 1) // hour_us
    prefix = f"{cat.seed}:{cat.app_token}:activity:"
    weights, daily = _HOUR_WEIGHTS, cat.daily_events
    while hour <= last:
        rng = random.Random(prefix + str(hour))
        count = rng.randint(0, max(0, round(2 * daily * weights[hour % 24] / _HOUR_TOTAL)))
        base = hour * hour_us
        offsets = sorted(rng.randrange(hour_us) for _ in range(count))
        for offset in offsets:
            event = _draw(cat, rng, base + offset, entities)
            if start_us <= event[T] < end_us:
                yield event
        hour += 1


def synthetic(cat: Catalogue, key: str, count: int, start: int, end: int, first: int = 0) -> Iterator[tuple]:
    """``count`` events spread evenly over [``start``, ``end``) (UTC epoch
    seconds), drawn by blocks of 1,000 from generators named by ``key`` (a
    job id): the events of an export made from a job spec. ``first``: skip
    to the event of that index (a later chunk) without drawing the ones
    before its block."""
    entities = cat.interactions()
    span_us = max(1, (end - start) * MICRO)
    block = max(0, first) // 1000
    while block * 1000 < count:
        rng = random.Random(f"{cat.seed}:{key}:synthetic:{block}")
        for index in range(block * 1000, min(count, block * 1000 + 1000)):
            event = _draw(cat, rng, start * MICRO + span_us * index // count, entities)
            if index >= first:
                yield event
        block += 1


# -- events sent by clients ---------------------------------------------------------

_SENT_KEYS = ("event_type", "event_name", "user_id", "company_id", "source", "t", *AUTO_FIELDS, "metadata")


_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def micros(moment: datetime) -> int:
    """Whole microseconds since the epoch of an aware ``datetime``."""
    return (moment - _EPOCH) // timedelta(microseconds=1)


def record_of(event_type: str, *, t_us: int, visible_at: int, source: str, user_id: str | None = None,
              company_id: str | None = None, event_name: str | None = None, metadata: dict | None = None,
              auto: dict | None = None) -> dict:
    """The store's record of one event a client sent (JSON-able): its fields
    as sent, ``t`` (inserted_at, whole microseconds since the epoch),
    ``visible_at`` (UTC epoch seconds from which exports include it) and the
    auto-captured fields an import row gave (``auto``: field -> value)."""
    record = {"event_type": event_type, "t": int(t_us), "visible_at": int(visible_at), "source": source,
              "metadata": metadata or {}}
    for name, value in (("user_id", user_id), ("company_id", company_id), ("event_name", event_name)):
        if value is not None:
            record[name] = value
    for name, value in (auto or {}).items():
        if name in AUTO_FIELDS and value is not None:
            record[name] = value
    return record


def as_event(record: dict) -> tuple:
    """The event tuple of a stored record."""
    get = record.get
    return (record["event_type"], get("event_name"), get("user_id"), get("company_id"), record["source"],
            record["t"], *(get(name) for name in AUTO_FIELDS), get("metadata") or {})


def sent_events(records: Iterable[dict], upto_seq: int, visible_by: int) -> list[tuple]:
    """The event tuples of stored ``records`` with ``seq`` <= ``upto_seq`` and
    visible at ``visible_by`` (UTC epoch seconds), oldest inserted_at first
    (ties: the order received)."""
    chosen = [as_event(r) for r in records if r["seq"] <= upto_seq and r["visible_at"] <= visible_by]
    chosen.sort(key=itemgetter(T))
    return chosen


# -- filters --------------------------------------------------------------------------

@dataclass(frozen=True)
class Selection:
    """Which events an export holds: ``start_us`` <= inserted_at <
    ``end_us`` (whole microseconds since the epoch, UTC) and, when given,
    event types, user ids and company ids (any of each), a segment, and
    terms to exclude (an event whose type or name equals one is left out)."""

    start_us: int
    end_us: int
    event_types: frozenset | None = None
    user_ids: frozenset | None = None
    company_ids: frozenset | None = None
    segment: Segment | None = None
    exclusions: frozenset = frozenset()

    def keeps(self, event: tuple) -> bool:
        if self.event_types is not None and event[EVENT_TYPE] not in self.event_types:
            return False
        if self.user_ids is not None and event[USER_ID] not in self.user_ids:
            return False
        if self.company_ids is not None and event[COMPANY_ID] not in self.company_ids:
            return False
        if self.exclusions and (event[EVENT_TYPE] in self.exclusions or event[EVENT_NAME] in self.exclusions):
            return False
        return not (self.segment is not None and not self.segment.contains(event[USER_ID], event[COMPANY_ID]))


def selected(cat: Catalogue, selection: Selection, activity_from: int, sent: list[tuple]) -> Iterator[tuple]:
    """The events of ``selection``, oldest first: background activity from
    ``activity_from`` (UTC epoch seconds) on, merged with ``sent`` (event
    tuples, sorted; ties: background first)."""
    low, high = selection.start_us, selection.end_us
    generated = background(cat, max(low, activity_from * MICRO), high)
    chosen = (e for e in sent if low <= e[T] < high)
    keeps = selection.keeps
    for event in heapq.merge(generated, chosen, key=itemgetter(T)):
        if keeps(event):
            yield event


__all__ = ["AUTO_FIELDS", "BACKGROUND_DAYS", "COLUMNS", "Catalogue", "EVENT_TYPES", "FIELDS", "MAX_APP_EVENTS",
           "MAX_APP_EVENT_BYTES", "SOURCES", "Segment", "Selection", "activity_start", "as_event", "background",
           "catalogue", "data_type", "micros", "record_of", "selected", "sent_events", "synthetic"]
