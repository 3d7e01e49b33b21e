"""A real Prometheus scrapes the real service with the metrics token and stores its series."""

from __future__ import annotations

from pathlib import Path

from tests.served import Served
from tests.services import Prometheus, free_port

TOKEN = "scrape-token-for-prometheus-0123456789"


def test_prometheus_scrapes_the_service_with_the_metrics_token(tmp_path: Path) -> None:
    served = Served(tmp_path, metrics_token=TOKEN, mqtt_embedded_port=str(free_port()))
    served.start()
    prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{served.port}", TOKEN)
    try:
        prometheus.start()
        served.api("GET", "/api/stations")
        up = prometheus.wait_for('up{job="librarylab"} == 1')
        assert [r["value"][1] for r in up] == ["1"]
        stations = prometheus.wait_for(
            'librarylab_http_requests_total{route="/api/stations",method="GET",status="200"}'
        )
        assert float(stations[0]["value"][1]) >= 1
        scrapes = prometheus.wait_for('librarylab_http_requests_total{route="/metrics"}')
        assert {r["metric"]["status"] for r in scrapes} == {"200"}  # the token was accepted
        printers = prometheus.wait_for("librarylab_printers")
        assert {r["metric"]["state"] for r in printers} >= {"offline", "printing"}
        assert prometheus.wait_for("librarylab_mqtt_connected == 1")
        assert prometheus.wait_for("librarylab_mqtt_messages_sent_total > 0")
        assert prometheus.wait_for("librarylab_mail_outbox")
        assert prometheus.wait_for("librarylab_print_queue_oldest_age_seconds")
    finally:
        prometheus.stop()
        served.stop()


def test_prometheus_marks_the_target_down_with_a_wrong_token(tmp_path: Path) -> None:
    served = Served(tmp_path, metrics_token=TOKEN, mqtt_enabled="false")
    served.start()
    prometheus = Prometheus(tmp_path / "prometheus", f"127.0.0.1:{served.port}", "wrong-token")
    try:
        prometheus.start()
        down = prometheus.wait_for('up{job="librarylab"} == 0')
        assert [r["value"][1] for r in down] == ["0"]
        assert prometheus.query("librarylab_http_requests_total") == []
    finally:
        prometheus.stop()
        served.stop()
