"""Scenarios of the provider side and of a field worker's day, only through the Python binding:
attachments made offline, a schema's refusal and an escalated conflict, a relay to a cloud over
listeners, and a change pushed to a background client without a sync call."""

import hashlib
import threading
import time

import pytest

from offsync import INVALID_ARGUMENT, TAKE_SERVER, Client, OffsyncError, Server
from offsync.testing import Network, reopen

SCHEMA = {"collections": {
    "notes": {"required": ["title"], "fields": {"title": {"type": "string"}, "grade": {"merge": "escalate"}}},
    "photos": {}}}


def wait_for(predicate, seconds=15):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.01)
    return predicate()


def test_a_photo_taken_offline_uploads_when_back_and_another_device_reads_it_byte_for_byte(tmp_path):
    photo = bytes((i * 7) % 256 for i in range(700_000))
    (tmp_path / "photo.jpg").write_bytes(photo)
    with Server.open(tmp_path / "cloud.db", schema=SCHEMA) as cloud:
        net = Network(cloud)
        phone = Client.open(tmp_path / "phone.db", exchange=net)
        net.offline()
        photo_id = phone.add_attachment_file(tmp_path / "photo.jpg", "image/jpeg")
        phone.put("photos", "p1", {"caption": "the site"}, attachments=[photo_id])
        assert not phone.sync()["reached"]
        info = phone.attachment(photo_id)
        assert info["size"] == len(photo) and info["sha256"] == hashlib.sha256(photo).hexdigest()
        assert info["state"] != "uploaded"

        phone = reopen(phone, tmp_path / "phone.db", exchange=net)  # killed while offline
        net.online()
        report = phone.sync()
        assert report["attachments_uploaded"] == 1 and phone.outbox() == []
        assert phone.attachment(photo_id)["state"] == "uploaded"

        with Client.open(tmp_path / "tablet.db", server=cloud) as tablet:
            tablet.sync()
            tablet.download_attachment(photo_id)
            tablet.export_attachment(photo_id, tmp_path / "copy.jpg")
            assert (tmp_path / "copy.jpg").read_bytes() == photo
            with pytest.raises(OffsyncError) as e:
                tablet.put("photos", "p2", {}, attachments=[7])
            assert e.value.code == INVALID_ARGUMENT and "attachment" in e.value.message
        phone.close()


def test_a_refused_write_and_an_escalated_conflict_are_told_and_settled(tmp_path):
    with Server.open(tmp_path / "cloud.db", schema=SCHEMA) as cloud:
        with Client.open(tmp_path / "a.db", server=cloud) as a, Client.open(tmp_path / "b.db", server=cloud) as b:
            rejected, conflicts, progress = [], [], []
            a.observe(on_rejected=rejected.append, on_conflict=conflicts.append,
                      on_progress=lambda *step: progress.append(step))
            refused = a.put("notes", "n0", {"body": "no title"})
            a.put("notes", "n1", {"title": "essay", "grade": "B"})
            a.sync()
            assert [m["id"] for m in rejected] == [refused]
            assert progress[0] == ("push", 2, 2) and progress[-1][0] == "pull"
            state = {m["id"]: m for m in a.outbox()}[refused]
            assert state["state"] == "rejected" and state["error_code"] == "missing_required_field"
            assert "title" in state["last_error"]
            a.discard(refused)
            assert a.get("notes", "n0") is None

            b.sync()
            b.patch("notes", "n1", {"grade": "A"})
            b.sync()
            mine = a.patch("notes", "n1", {"grade": "C"})
            a.sync()
            assert [m["id"] for m in conflicts] == [mine]
            a.resolve(mine, TAKE_SERVER)
            a.sync()
            assert a.outbox() == [] and a.get("notes", "n1")["grade"] == "A"


def test_a_provider_relays_its_apps_writes_to_the_cloud_and_a_change_is_pushed_back(tmp_path):
    with Server.open(tmp_path / "cloud.db") as cloud:
        cloud_url = cloud.listen("tcp:127.0.0.1:0").address
        assert cloud_url.startswith("http://127.0.0.1:")
        with pytest.raises(OffsyncError) as e:
            cloud.listen("carrier-pigeon:1")
        assert e.value.code == INVALID_ARGUMENT and "carrier-pigeon:1" in e.value.message

        with Server.open(tmp_path / "provider.db", upstream_url=cloud_url) as provider:
            socket = provider.listen(f"unix:{tmp_path}/provider.sock")
            app = Client.open(tmp_path / "app.db", server_url=socket.url, unix_socket=socket.unix_socket,
                              background=True)
            heard = []
            app.watch(lambda result, change: heard.append([r["id"] for r in result]), "notes")
            app.put("notes", "n1", {"title": "from the app"})
            assert wait_for(lambda: cloud.stats()["mutations_applied"] == 1)  # relayed

            with Client.open(tmp_path / "web.db", server_url=cloud_url) as web:
                web.sync()
                assert web.get("notes", "n1") == {"title": "from the app"}
                web.put("notes", "w1", {"title": "from the web"})
                web.sync()
            # Nobody calls app.sync(): the cloud pushes to the provider, the provider to the app.
            assert wait_for(lambda: heard and heard[-1] == ["n1", "w1"])

            # The platform says the network is gone: a write waits, and the status says so.
            app.set_connectivity("offline")
            app.put("notes", "n2", {"title": "on the train"})
            time.sleep(0.3)
            status = app.status()
            assert status["state"] == "offline" and status["pending"] == 1
            app.set_connectivity("online")
            assert wait_for(lambda: app.status()["pending"] == 0)
            with pytest.raises(ValueError):
                app.set_connectivity("carrier pigeon")
            app.close()
