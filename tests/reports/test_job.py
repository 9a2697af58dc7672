"""jobs.quarterly end to end on a real local Ray, notifying a real HTTP receiver and a real SMTP server
(aiosmtpd) on loopback."""

from __future__ import annotations

import email
import json
import threading
from email import policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _jobs_importable(monkeypatch) -> None:
    """`jobs/` is run as `python -m jobs.quarterly` from the repository root; import it the same way here."""
    monkeypatch.syspath_prepend(str(REPO))


@pytest.fixture
def webhook_receiver():
    got: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            got.append({"headers": dict(self.headers), "body": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    t = threading.Thread(target=server.serve_forever, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", got
    server.shutdown()
    server.server_close()


@pytest.fixture
def smtp_server(free_port):
    from aiosmtpd.controller import Controller

    messages: list[email.message.EmailMessage] = []

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # noqa: N802
            messages.append(email.message_from_bytes(envelope.content, policy=policy.default))
            return "250 OK"

    ctl = Controller(Handler(), hostname="127.0.0.1", port=free_port)
    ctl.start()
    yield free_port, messages
    ctl.stop()


def test_quarterly_job_sweeps_on_ray_reports_and_notifies(
    ray_local, tmp_path, webhook_receiver, smtp_server, monkeypatch
) -> None:
    from jobs.quarterly import run_job
    from quantray.reports import load_report

    url, hooks = webhook_receiver
    port, mails = smtp_server
    monkeypatch.setenv("QR_TEST_SECRET", "s3cr3t")
    summary = run_job(
        {
            "portfolios": [{"name": "sample", "symbols": ["AAPL", "MSFT", "JPM", "KO"]}],
            "quarter": "2017Q4",
            "out": str(tmp_path),
            "formats": ["pdf", "md"],
            "use_ray": True,
            "render": {"top": 3, "branding": {"name": "Acme Research"}},
            "tradingview": {"top": 3},
            "notify": {
                "webhook": {"url": url, "secret_env": "QR_TEST_SECRET"},
                "email": {
                    "host": "127.0.0.1",
                    "port": port,
                    "sender": "qr@example.com",
                    "to": ["pm@example.com"],
                },
            },
        }
    )
    assert summary["status"] == "succeeded", summary["errors"]
    entry = summary["reports"][0]
    rep = load_report(entry["dir"])
    assert rep.selection["engine"].startswith("ray") and len(rep.rows) == 4
    assert Path(entry["files"]["pdf"]).read_bytes()[:5] == b"%PDF-"
    from quantray.reports import tradingview

    if hasattr(
        tradingview, "export_tradingview"
    ):  # item 5 is built in parallel; with it, the top 3 are exported
        wl = Path(entry["dir"], "tradingview", "watchlist.txt").read_text().split()
        assert wl == [r.tv_symbol for r in rep.get_top_performers(3)]
    else:
        assert "not available" in entry["tradingview"]["skipped"]
    # the webhook got the summary
    assert len(hooks) == 1
    body = hooks[0]["body"]
    assert hooks[0]["headers"]["X-Quantray-Secret"] == "s3cr3t"
    assert body["status"] == "succeeded" and body["reports"][0]["dir"] == entry["dir"]
    assert [t["symbol"] for t in body["reports"][0]["top"]] == [
        r.tv_symbol for r in rep.get_top_performers(3)
    ]
    # the email arrived with the PDF attached
    assert len(mails) == 1
    msg = mails[0]
    assert (
        msg["Subject"] == "[quantray] quarterly reports 2017Q4: succeeded" and msg["To"] == "pm@example.com"
    )
    text = msg.get_body(preferencelist=("plain",)).get_content()
    assert "sample 2017Q4: 4 symbols" in text
    pdfs = [p for p in msg.iter_attachments() if p.get_filename() == "report.pdf"]
    assert len(pdfs) == 1 and pdfs[0].get_content()[:5] == b"%PDF-"


def test_quarterly_job_failure_still_notifies(tmp_path, webhook_receiver) -> None:
    from jobs.quarterly import main

    url, hooks = webhook_receiver
    cfg = tmp_path / "q.yaml"
    cfg.write_text(
        f"portfolios: [sample]\nquarter: 2030Q1\nout: {tmp_path}\nuse_ray: false\nnotify: {{webhook: {{url: '{url}'}}}}\n"
    )
    assert main(["--config", str(cfg)]) == 1
    assert hooks[0]["body"]["status"] == "failed"
    assert "quarter 2030Q1 has no bars" in hooks[0]["body"]["errors"][0]


def test_quarterly_job_rejects_unknown_keys(tmp_path) -> None:
    from jobs.quarterly import run_job
    from quantray.errors import ConfigError

    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['portfolio'\]"):
        run_job({"portfolio": "sample"})


def test_shipped_config_is_valid_and_matches_the_cronjob() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    cron = yaml.safe_load((root / "infra/k8s/base/raycronjob-quarterly.yaml").read_text())
    # the shipped config, written to the data bucket (the submitter expands QUANTRAY_OUT from quantray-settings)
    assert (
        cron["spec"]["jobTemplate"]["entrypoint"]
        == "python -m jobs.quarterly --config jobs/configs/quarterly.yaml --out ${QUANTRAY_OUT:?}"
    )
    from jobs.quarterly import KEYS

    for name in ("quarterly.yaml", "quarterly_full.yaml"):
        cfg = yaml.safe_load((root / "jobs/configs" / name).read_text())
        assert set(cfg) <= set(KEYS)
        from quantray.reports import NotifyConfig, RenderConfig, load_portfolio

        RenderConfig.from_dict(cfg.get("render"))
        NotifyConfig.from_dict(cfg.get("notify"))
        for p in cfg["portfolios"]:
            load_portfolio(p)
