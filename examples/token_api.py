r"""An API that wants a token: the token is sent, and never written anywhere.

The token comes from the config file (option `token`, in a file only you can
read) or, when the file has none, from the environment variable
`DEMO_API_TOKEN`. It goes into one request header, `Authorization: Bearer
...`, and nowhere else: not into the state, the messages or a log line, and
not into the line a failed run prints. (Never put a token in a URL: URLs are
printed when a download fails.) A `401` or `403` fails the run at once, with
one line and no retry: asking again with the same token gets the same answer.

Run it against the demo feed (`stateful-collectors demo-feed --token ...`):

    DEMO_API_TOKEN=... stateful-collectors run token_api:TokenApiCollector \
        --config token_api.conf
"""

import json
import os
import sys
import urllib.parse

from stateful_collectors import (
    BaseDownloadingCollector,
    BaseSimpleCollector,
    ConfigError,
    StatefulCollectorMixin,
)

TOKEN_VARIABLE = "DEMO_API_TOKEN"


class TokenApiCollector(
    StatefulCollectorMixin, BaseDownloadingCollector, BaseSimpleCollector
):
    raw_type = "stream"
    state_codec = "json"

    config_spec = """
        [token_api]
        state_dir :: path
        url :: str
        token = :: str    # or $DEMO_API_TOKEN
    """

    def get_source_channel(self, **processed_data):
        return "items"

    def make_default_state(self):
        return {"since": None}

    def obtain_data_body(self):
        headers = {"Authorization": f"Bearer {self._token()}"}  # before anything else
        state = self.load_state()
        url = self.config["url"]
        if state["since"] is not None:
            url += "?" + urllib.parse.urlencode({"since": state["since"]})
        items = json.loads(self.download(url, custom_request_headers=headers))
        if not items:
            return None
        self.new_state = {"since": items[-1]["time"]}
        return json.dumps(items)

    def after_completed_publishing(self):
        super().after_completed_publishing()
        self.save_state(self.new_state)

    def _token(self):
        where = self.config.origin
        if self.config["token"]:
            if os.path.isfile(where) and os.stat(where).st_mode & 0o077:
                raise ConfigError(
                    f"{where} holds the API token and others may read it; "
                    f"chmod 600 {where}"
                )
            return self.config["token"]
        if os.environ.get(TOKEN_VARIABLE):
            return os.environ[TOKEN_VARIABLE]
        raise ConfigError(
            f"{where}: [token_api] has no token; set 'token' there (in a file only "
            f"you can read) or the environment variable {TOKEN_VARIABLE}"
        )


if __name__ == "__main__":
    sys.exit(TokenApiCollector.cli_main())
