"""The twelve lookups over HTTP: bare JSON arrays, or for ``segments`` and
``events_properties`` a page of 50 with an opaque cursor (``after_cursor``;
a cursor no answer gave is a 400)."""
from __future__ import annotations

from ...backend import activity
from ...http.render import Answer, json_answer
from . import models


def _context(call):
    backend, app = call.backend, call.app
    return backend, app, activity.catalogue(backend.seed, app.app_token)


def user_properties(call) -> Answer:
    """lookupUserProperties."""
    backend, app, cat = _context(call)
    return json_answer(models.user_properties(cat, backend.sent_records(app)))


def company_properties(call) -> Answer:
    """lookupCompanyProperties."""
    backend, app, cat = _context(call)
    return json_answer(models.company_properties(cat, backend.sent_records(app)))


def segments(call) -> Answer:
    """lookupSegments: a page of segments."""
    _backend, _app, cat = _context(call)
    return json_answer(models.page("segments", models.segments(cat), call.args.get("after_cursor")))


def features_events(call) -> Answer:
    """lookupFeaturesEvents."""
    backend, app, cat = _context(call)
    return json_answer(models.features_events(cat, backend.sent_records(app)))


def events_properties(call) -> Answer:
    """lookupEventsProperties: a page of event properties."""
    backend, app, cat = _context(call)
    items = models.events_properties(cat, backend.sent_records(app), activity.activity_start(app.first_seen),
                                     backend.now())
    return json_answer(models.page("events_properties", items, call.args.get("after_cursor")))


def _listing(attribute: str):
    def handler(call) -> Answer:
        _backend, _app, cat = _context(call)
        return json_answer(list(getattr(cat, attribute)))
    handler.__doc__ = f"The {attribute} of the app's catalogue."
    return handler


flows = _listing("flows")
banners = _listing("banners")
spotlights = _listing("spotlights")
surveys = _listing("surveys")
resource_center_modules = _listing("resource_center_modules")
checklists = _listing("checklists")


def embeds(call) -> Answer:
    """lookupEmbeds: banners and cards."""
    _backend, _app, cat = _context(call)
    return json_answer(models.embeds(cat))


HANDLERS = {"lookupUserProperties": user_properties, "lookupCompanyProperties": company_properties,
            "lookupSegments": segments, "lookupFeaturesEvents": features_events,
            "lookupEventsProperties": events_properties, "lookupFlows": flows, "lookupBanners": banners,
            "lookupEmbeds": embeds, "lookupSpotlights": spotlights, "lookupSurveys": surveys,
            "lookupResourceCenterModules": resource_center_modules, "lookupChecklists": checklists}

__all__ = ["HANDLERS"]
