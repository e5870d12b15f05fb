"""Collectors written the way n6 4.40 writes its own, for `stateful_collectors.n6`'s tests.

Each keeps the shape of one kind of n6 collector, with its imports pointed at
this library: the two lines an n6 collector module changes.

* `EntriesApiCollector`: a two-phase downloader (`BaseSimpleCollector` with
  `BaseDownloadingCollector`) that POSTs a JSON query page by page, keeps the
  newest time it published in `self._state` and saves it in
  `after_completed_publishing()`;
* `EventsCollector`: a collector that publishes iteratively (an `async
  publish_iteratively()` awaiting `PubIterFlushOut` before each save), to two
  exchanges, with its config section named by a command-line argument
  (`get_arg_parser()`, `cmdline_args`, an instance `get_config_spec_format_kwargs()`,
  `get_config_from_config_full()`), a converter of its own (`custom_converters`),
  `heartbeat_interval`, and a state saved by Python 2 taken over through
  `get_py2_pickle_load_kwargs()` and `adjust_state_from_py2_pickle()`; it
  catches `requests.HTTPError` and reads `exc.response.status_code`.

`tests/n6/shaped_blocklist.py` is the third shape: a rows collector with its
URL hard-wired in `set_configuration()`.
"""

import json
import logging

import requests

from stateful_collectors.n6 import (
    BaseCollector,
    BaseDownloadingCollector,
    BaseSimpleCollector,
    StatefulCollectorMixin,
    add_collector_entry_point_functions,
    combined_config_spec,
)

LOGGER = logging.getLogger(__name__)


class EntriesApiCollector(StatefulCollectorMixin, BaseSimpleCollector, BaseDownloadingCollector):
    raw_type = "file"
    content_type = "application/json"

    config_spec_pattern = combined_config_spec("""
        [{collector_class_name}]
        url :: str
        token :: str
        per_page = 2 :: int
    """)

    def __init__(self, /, **kwargs):
        super().__init__(**kwargs)
        self._state = None  # set in obtain_data_body()

    def get_source(self, **processed_data):
        return "example-api.entries"

    def make_default_state(self):
        return {"newest": ""}

    def obtain_data_body(self):
        self._state = self.load_state()
        entries, page = [], 1
        while True:
            answer = json.loads(
                self.download(
                    method="POST",
                    url=self.config["url"],
                    json={"page": page, "per_page": self.config["per_page"]},
                    custom_request_headers={"X-Token": self.config["token"]},
                )
            )
            entries += answer["entries"]
            if len(entries) >= answer["total"] or not answer["entries"]:
                break
            page += 1
        new = [entry for entry in entries if entry["time"] > self._state["newest"]]
        if not new:
            return None
        self._state = {"newest": max(entry["time"] for entry in new)}
        return json.dumps(sorted(new, key=lambda entry: entry["time"])).encode()

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self._state)


class EventsCollector(StatefulCollectorMixin, BaseDownloadingCollector, BaseCollector):
    raw_type = "stream"
    content_type = "application/json"  # sent only with the attachments, published as 'file'
    output_queue = [
        {"exchange": "raw", "exchange_type": "topic"},
        {"exchange": "sample", "exchange_type": "topic"},
    ]

    config_spec_pattern = """
        [{section_from_command_line}]
        source_provider :: str
        api_url :: str
        minimum_tlp = :: tlp
        heartbeat_interval = 30 :: int
        state_dir = ~/.n6state :: path
    """

    def __init__(self, **kwargs):
        self._section = self.cmdline_args.section  # parsed before __init__, as in n6
        super().__init__(**kwargs)
        self._state = None
        self._events = None

    @classmethod
    def get_arg_parser(cls):
        parser = super().get_arg_parser()
        parser.add_argument("section", help="the config section to read")
        return parser

    @property
    def custom_converters(self):
        return super().custom_converters | {"tlp": self._tlp}

    @staticmethod
    def _tlp(text):
        if not text:
            return None
        if text.lower() not in ("white", "green", "amber", "red"):
            raise ValueError("is not a TLP colour (white, green, amber or red)")
        return text.lower()

    def get_config_spec_format_kwargs(self):
        return super().get_config_spec_format_kwargs() | {
            "section_from_command_line": self._section
        }

    def get_config_from_config_full(self, *, config_full, collector_class_name):
        return config_full[self._section]

    def get_source(self, **processed_data):
        return f"{self.config['source_provider']}.events"

    def get_output_data_body(self, *, body, **processed_data):
        return body

    def get_output_prop_kwargs(self, *, attachment_id=None, **processed_data):
        properties = super().get_output_prop_kwargs(**processed_data)
        meta = {}
        if self.config["minimum_tlp"]:
            meta["minimum_tlp"] = self.config["minimum_tlp"]
        if attachment_id is not None:
            meta["attachment_id"] = attachment_id
        if meta:
            properties["headers"]["meta"] = meta
        return properties

    def make_default_state(self):
        return {"last_event_id": 0, "done_attachments": set()}

    def get_py2_pickle_load_kwargs(self):
        return {"encoding": "latin1"}

    def adjust_state_from_py2_pickle(self, py2_state):
        # Python 2 kept a list under other names; here a set under new ones.
        return {
            "last_event_id": py2_state["lastEventId"],
            "done_attachments": set(py2_state["attachmentsDone"]),
        }

    def run_collection(self):
        self._state = self.load_state()
        found = json.loads(
            self.download(
                self.config["api_url"] + "/events/search",
                method="POST",
                json={"after_id": self._state["last_event_id"]},
            )
        )["response"]
        self._events = found
        if found:
            super().run_collection()
        else:
            LOGGER.info("No new events.")

    def start_publishing(self):
        super().start_publishing()
        self.start_iterative_publishing()

    async def publish_iteratively(self):
        body = json.dumps(self._events).encode()
        self.publish_output(*self.get_output_components(body=body))
        await self.PubIterFlushOut
        newest = max(event["id"] for event in self._events)
        self.raw_type = "file"
        for event in self._events:
            for attachment_id in event["attachments"]:
                if attachment_id in self._state["done_attachments"]:
                    continue
                await self.PubIter
                try:
                    data = self.download(f"{self.config['api_url']}/attachments/{attachment_id}")
                except requests.HTTPError as exc:
                    LOGGER.warning(
                        "attachment %d skipped: HTTP status %d",
                        attachment_id,
                        exc.response.status_code,
                    )
                    continue
                finally:
                    self._http_last_modified = None
                components = self.get_output_components(body=data, attachment_id=attachment_id)
                self.publish_output(*components, exchange="sample")
                await self.PubIterFlushOut
                self._state["done_attachments"].add(attachment_id)
                self.save_state(self._state)
        self._state = {"last_event_id": newest, "done_attachments": set()}
        self.save_state(self._state)


add_collector_entry_point_functions(__name__)
