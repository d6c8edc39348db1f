#!/usr/bin/env python3
"""The web console in a real browser: Debian's chromium, headless, driven by playwright
against a running fleetboot server on loopback (tests/web_console.rs starts it).

Logs in (a wrong password first), uploads an ISO and watches the progress bar reach 100 %
and the image appear with its distro, makes a machine seen over DHCP (a PXE request to the
server's boot-server port) and assigns it the image, watches the live log as that machine
fetches its bootloader over TFTP and its boot script, kernel and initrd over HTTP, checks the
timeline, copies starter-kickstart into a template, makes a group with it and a secret,
puts the machine in the group and checks its install view, local-disk badge and reinstall,
on the Deploys page sees a multicast session started elsewhere arrive live and cancels it,
starts one from the "Send a file" dialog (a bad path first) and copies its receiver command,
sees a receiver's report in its expanded row, asks for a deploy of that file to the machine
(refused while the deploy agent is missing: the dialog says how to build it; made once it
is there), follows it to its machines and cancels it, adds a viewer and checks that the viewer sees no write action, and ends with a locked-out
login. Screenshots of every page at 1280x800 go to --out.

Exits 0 when every check passed; prints one line per check.
"""
import argparse
import json
import os
import re
import socket
import struct
import sys
import time
import urllib.parse
import urllib.request

from playwright.sync_api import expect, sync_playwright

MAC = "52:54:00:fb:0c:01"
CHROMIUM = os.environ.get("FLEETBOOT_CHROMIUM", "/usr/bin/chromium")


def log(msg):
    print(f"console: {msg}", flush=True)


def pxe_request(mac, arch=0, xid=0x0FB0C001):
    """A DHCPREQUEST as PXE firmware sends it to the boot server (port 4011)."""
    hw = bytes(int(x, 16) for x in mac.split(":"))
    head = struct.pack("!BBBBIHH4s4s4s4s16s64s128s", 1, 1, 6, 0, xid, 0, 0x8000,
                       b"\0" * 4, b"\0" * 4, b"\0" * 4, b"\0" * 4, hw + b"\0" * 10, b"", b"")
    cls = f"PXEClient:Arch:{arch:05d}:UNDI:002001".encode()
    opts = bytes([53, 1, 3]) + bytes([60, len(cls)]) + cls
    opts += bytes([93, 2]) + struct.pack("!H", arch) + bytes([97, 17]) + b"\0" * 17 + b"\xff"
    msg = head + b"\x63\x82\x53\x63" + opts
    return msg + b"\0" * max(0, 300 - len(msg))


def dhcp_seen(port, mac, arch=0):
    """Sends the request; returns the bootfile offered."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(pxe_request(mac, arch), ("127.0.0.1", port))
        reply, _ = s.recvfrom(1500)
    return reply[108:236].split(b"\0")[0].decode()


def tftp_get(port, name):
    """A plain RFC 1350 read (512-byte blocks); returns the bytes."""
    data = bytearray()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(3)
        s.sendto(b"\0\x01" + name.encode() + b"\0octet\0", ("127.0.0.1", port))
        expected = 1
        while True:
            pkt, peer = s.recvfrom(2048)
            op, block = struct.unpack("!HH", pkt[:4])
            if op == 5:
                raise RuntimeError(f"TFTP error for {name}: {pkt[4:-1].decode(errors='replace')}")
            if op == 3 and block == expected:
                data += pkt[4:]
                s.sendto(struct.pack("!HH", 4, block), peer)
                expected = (expected + 1) & 0xFFFF
                if len(pkt) - 4 < 512:
                    return bytes(data)


def http_get(url):
    with urllib.request.urlopen(url, timeout=10) as r:
        return r.read()


DEMO = [
    ("52:54:00:3a:10:01", 7, "Dell Inc.", "PowerEdge R650", "8YQ2KX3"),
    ("52:54:00:3a:10:02", 7, "Dell Inc.", "PowerEdge R650", "8YQ2KX4"),
    ("52:54:00:3a:10:03", 0, "HPE", "ProLiant DL360 Gen10", "CZJ91205LD"),
    ("52:54:00:3a:10:04", 7, "Lenovo", "ThinkSystem SR630", "J30084KL"),
    ("52:54:00:3a:10:05", 11, "Ampere", "Mt. Collins", "AMP-0017"),
    ("52:54:00:3a:10:06", 0, "Supermicro", "SYS-5019C-MR", "S41822A"),
    ("52:54:00:3a:10:07", 7, "Lenovo", "ThinkCentre M70q", "PF3KZ9QA"),
    ("52:54:00:3a:10:08", 16, "Intel", "NUC13ANHi5", "G6AN31200A"),
]


def demo_machines(args):
    """More machines, for the README's screenshots: PXE, bootloader, boot script."""
    for mac, arch, maker, product, serial in DEMO:
        try:
            bootfile = dhcp_seen(args.pxe_port, mac, arch)
        except TimeoutError:  # no bootloader for that firmware here: not answered
            bootfile = None
        if bootfile and not bootfile.startswith("http"):
            tftp_get(args.tftp_port, bootfile)
        q = urllib.parse.urlencode({"mac": mac, "manufacturer": maker, "product": product, "serial": serial})
        http_get(f"{args.http}/boot.ipxe?{q}")


def post_json(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


def deploys_step(page, args, shot):
    """The Deploys page: multicast sessions live, cancelled, started from the dialog."""
    file = os.path.basename(args.disk)
    page.get_by_role("link", name="Deploys").click()
    expect(page.get_by_role("heading", name="Deploys", level=1)).to_be_visible()
    sessions = page.locator("table.sessions tbody")
    expect(sessions).to_contain_text("No multicast session")
    # Started elsewhere while nothing is active (so no poll runs): it comes by a live event.
    started = page.evaluate("""disk => fetch('/api/v1/multicast', {method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({path: disk, interface: 'lo', min_receivers: 5, max_wait_secs: 600})})
        .then(r => r.json())""", args.disk)
    first = sessions.locator(f'tr[data-id="{started["id"]}"]')
    expect(first).to_contain_text("waiting")
    expect(first).to_contain_text(file)
    log("ok: a session started through the API arrives live in the sessions table")
    first.get_by_role("button", name=f"Cancel the session of {args.disk}").click()
    dlg = page.get_by_role("dialog")
    dlg.get_by_role("button", name="Cancel session").click()
    expect(dlg).to_be_hidden()
    expect(first).to_contain_text("cancelled")
    expect(first.get_by_role("button", name=re.compile("^Cancel"))).to_be_hidden()
    log("ok: a session cancelled from its row")

    page.get_by_role("button", name="Send a file…").click()
    dlg = page.get_by_role("dialog")
    dlg.get_by_label("File").fill("disks/no-such.img")
    dlg.get_by_label("Interface").fill("lo")
    dlg.get_by_role("button", name="Start session").click()
    expect(dlg.get_by_role("alert")).to_contain_text("no-such.img")
    dlg.get_by_label("File").fill(args.disk)
    dlg.get_by_label("Minimum receivers").fill("3")
    dlg.get_by_label("Longest wait, seconds").fill("600")
    dlg.get_by_role("button", name="Start session").click()
    done = page.get_by_role("dialog", name=re.compile(r"^Session [0-9a-f]{8} started$"))
    command = done.get_by_role("textbox", name="Receiver command")
    pattern = rf"^fleetboot-receive (http://\S+/multicast/([0-9a-f]{{8}})) --output {re.escape(file)}$"
    expect(command).to_have_value(re.compile(pattern))
    line = command.input_value()
    url, sid = re.match(pattern, line).groups()
    expect(done.get_by_role("textbox", name="Manifest URL")).to_have_value(url)
    shot(page, "multicast-started")
    done.get_by_role("button", name="Close").click()
    expect(done).to_be_hidden()
    row = sessions.locator(f'tr[data-id="{sid}"]')
    expect(row).to_contain_text("waiting")
    # The URL shown is the manifest's (served once the file is hashed: `waiting`).
    manifest = json.loads(http_get(url))
    assert manifest["name"] == file and manifest["state"] == "waiting", manifest
    chunk = manifest["symbol_size"] * manifest["chunk_symbols"]
    chunks = -(-manifest["size"] // chunk)
    assert chunks >= 3, f"{args.disk} is too small for this walk: {chunks} chunks"
    log(f"ok: session {sid} started from the dialog (a bad path refused in it), its command shown")

    expect(row).to_contain_text("0 of 0 done")
    # A receiver's report, as fleetboot-receive sends it: listed by the light poll.
    answer = post_json(f"{args.http}/multicast/{sid}/report", {
        "receiver": MAC, "chunks_done": 2,
        "needs": [{"first": 2, "last": chunks - 1, "symbols": manifest["chunk_symbols"]}],
        "loss": 0.02, "verdict": "receiving"})
    assert answer["state"] == "waiting", answer
    expect(row).to_contain_text("0 of 1 done")
    toggle = row.get_by_role("button", name=f"Receivers of {args.disk}")
    expect(toggle).to_have_attribute("aria-expanded", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-expanded", "true")
    receivers = page.locator(f"#session-{sid}")
    expect(receivers.get_by_role("textbox", name="Receiver command")).to_have_value(line)
    receiver = receivers.locator(f'tr[data-name="{MAC}"]')
    expect(receiver).to_contain_text(f"2 / {chunks}")
    expect(receiver).to_contain_text("2.0 %")
    expect(receiver).to_contain_text("receiving")
    log("ok: the receiver's report shows in the session's expanded row")

    # A deploy of that file to the machine: refused while the agent is missing, then made.
    page.get_by_role("button", name="New deploy…").click()
    dlg = page.get_by_role("dialog")
    expect(dlg.locator(f'#deploy-images option[value="{args.disk}"]')).to_have_count(1)
    dlg.get_by_label("Image").fill(args.disk)
    dlg.get_by_role("searchbox", name="Search clients").fill("fb:0c")
    dlg.get_by_role("checkbox", name=re.compile(MAC)).check()
    expect(dlg.get_by_text("1 chosen")).to_be_visible()
    expect(dlg.get_by_label("Disk")).to_have_value("/dev/sda")
    dlg.get_by_label("Longest wait, seconds").fill("600")
    dlg.get_by_role("button", name="Deploy", exact=True).click()
    expect(dlg.get_by_role("alert")).to_contain_text("tools/build-deploy-agent.sh")
    shot(page, "deploy-no-agent")
    log("ok: a deploy without the agent is refused in the dialog, which says how to build it")
    agent = os.path.join(args.data, "agent")
    os.makedirs(agent, exist_ok=True)
    for name in ["vmlinuz", "initrd.img"]:
        with open(os.path.join(agent, name), "wb") as f:
            f.write(b"a stand-in: this walk boots no machine")
    dlg.get_by_role("button", name="Deploy", exact=True).click()
    expect(dlg).to_be_hidden()
    deploy = page.locator("table.deploys tbody tr[data-id]")
    expect(deploy).to_have_count(1)
    expect(deploy).to_contain_text("1 machine")
    expect(deploy).to_contain_text("1 pending")
    expect(deploy).to_contain_text("running")
    expect(deploy).to_contain_text("waiting")
    expect(sessions.locator("tr[data-id]")).to_have_count(3)
    log("ok: the deploy is listed with its machine, state and session")
    shot(page, "deploys")
    deploy.get_by_role("link").click()
    expect(page.get_by_role("heading", name=re.compile(r"^Deploy \d+"))).to_be_visible()
    machine = page.locator(f'table.machines tr[data-mac="{MAC}"]')
    expect(machine).to_contain_text("pending")
    expect(page.locator("dl.facts")).to_contain_text(args.disk)
    shot(page, "deploy")
    page.get_by_role("button", name=re.compile(r"^Cancel deploy \d+")).click()
    dlg = page.get_by_role("dialog")
    dlg.get_by_role("button", name="Cancel deploy").click()
    expect(dlg).to_be_hidden()
    expect(page.locator("#deploy-state")).to_have_text("cancelled")
    expect(page.get_by_role("button", name=re.compile(r"^Cancel deploy"))).to_have_count(0)
    log("ok: the deploy's page lists its machine; cancelled from there")
    # Another, left running for the viewer's walk.
    status = page.evaluate("""([disk, mac]) => fetch('/api/v1/deploys', {method: 'POST',
        headers: {'content-type': 'application/json'},
        body: JSON.stringify({image: disk, clients: [mac], max_wait_secs: 600})}).then(r => r.status)""",
        [args.disk, MAC])
    assert status == 201, status


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--admin", required=True, help="http://127.0.0.1:PORT of the admin listener")
    ap.add_argument("--password", required=True, help="the admin password")
    ap.add_argument("--iso", required=True, help="an ISO to upload")
    ap.add_argument("--http", required=True, help="http://127.0.0.1:PORT of the boot HTTP server")
    ap.add_argument("--tftp-port", type=int, required=True)
    ap.add_argument("--pxe-port", type=int, required=True)
    ap.add_argument("--data", required=True, help="the server's data dir (the deploy agent goes there)")
    ap.add_argument("--disk", required=True, help="a small file in the data dir, for multicast sessions")
    ap.add_argument("--out", required=True, help="where screenshots go")
    ap.add_argument("--demo", action="store_true", help="more machines, for the README's screenshots")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)
    admin = args.admin.rstrip("/")
    failures = []

    def shot(page, name):
        path = os.path.join(args.out, f"{name}.png")
        # Notices fade on their own; a picture of the page should not keep them.
        page.evaluate("document.getElementById('toasts')?.replaceChildren(); document.activeElement?.blur()")
        page.screenshot(path=path, full_page=False)
        log(f"screenshot {path}")

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True,
                                    args=["--no-sandbox", "--disable-dev-shm-usage"])
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        errors = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        # Refused requests (the 401 before login, the wrong passwords) are expected.
        page.on("console", lambda m: m.type == "error" and "Failed to load resource" not in m.text
                and errors.append(m.text))
        expect.set_options(timeout=20_000)

        # --- login: a wrong password, then the right one --------------------------------
        page.goto(admin + "/")
        expect(page.get_by_label("Username")).to_be_visible()
        shot(page, "login")
        page.get_by_label("Username").fill("admin")
        page.get_by_label("Password").fill("not-the-password")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("alert")).to_contain_text("Wrong user name or password")
        shot(page, "login-wrong-password")
        log("ok: a wrong password shows the error")
        page.get_by_label("Password").fill(args.password)
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.locator("#live-state")).to_have_text("live")
        log("ok: logged in, live events connected")

        # --- upload an ISO ---------------------------------------------------------------
        page.get_by_role("link", name="Images").click()
        expect(page.get_by_role("heading", name="Images")).to_be_visible()
        page.set_input_files("#iso-file", args.iso)
        name = os.path.basename(args.iso)
        transfer = page.locator(f'.transfer[data-name="{name}"]')
        expect(transfer.locator(".pct")).to_have_text("100 %", timeout=120_000)
        expect(transfer).to_contain_text("detected", timeout=120_000)
        bar = transfer.locator("progress")
        value, maximum = bar.evaluate("b => [b.value, b.max]")
        assert value == maximum == os.path.getsize(args.iso), (value, maximum)
        row = page.locator("table.images tbody tr", has_text=name)
        expect(row).to_be_visible()
        distro = row.locator(".badge.distro")
        expect(distro).to_be_visible()
        log(f"ok: upload reached 100 %, image listed with distro {distro.inner_text()!r}")
        image_id = row.get_attribute("data-id")
        page.get_by_role("searchbox", name="Search images").fill(distro.inner_text()[:3])
        expect(row).to_be_visible()
        page.get_by_role("searchbox", name="Search images").fill("no-such-image-anywhere")
        expect(row).to_be_hidden()
        page.get_by_role("searchbox", name="Search images").fill("")
        log("ok: the image search filters the table")
        shot(page, "images")

        # --- a machine seen over DHCP, assigned the image --------------------------------
        if args.demo:
            demo_machines(args)
        page.get_by_role("link", name="Clients").click()
        expect(page.get_by_role("heading", name="Clients")).to_be_visible()
        bootfile = dhcp_seen(args.pxe_port, MAC)
        log(f"PXE request answered: bootfile {bootfile}")
        crow = page.locator(f'table.clients tr[data-mac="{MAC}"]')
        expect(crow).to_be_visible()  # arrives by a `client` event, no reload
        expect(crow).to_contain_text("bios")
        log("ok: the client seen over DHCP appears in the clients table")
        crow.get_by_role("button", name="Assign").click()
        dlg = page.get_by_role("dialog")
        dlg.get_by_label("Image").select_option(image_id)
        dlg.get_by_role("button", name="Assign").click()
        expect(dlg).to_be_hidden()
        expect(crow.locator("td").nth(9)).to_contain_text(name)
        log("ok: image assigned from the clients table")
        page.get_by_role("searchbox", name="Search clients").fill("fb:0c")
        expect(page.locator("table.clients tbody tr")).to_have_count(1)
        expect(crow).to_be_visible()
        page.get_by_role("searchbox", name="Search clients").fill("")
        log("ok: the client search asks the server")
        shot(page, "clients")

        # --- the live log while the machine boots -----------------------------------------
        page.get_by_role("link", name="Live log").click()
        expect(page.get_by_role("heading", name="Live log")).to_be_visible()
        loader = tftp_get(args.tftp_port, bootfile)
        log(f"TFTP {bootfile}: {len(loader)} bytes")
        live = page.locator("table.live tbody")
        expect(live.locator("tr", has_text=bootfile).first).to_be_visible()
        log("ok: the TFTP transfer arrived in the live log")
        script = http_get(f"{args.http}/boot.ipxe?mac={MAC}&manufacturer=Fleet%20Lab&product=R1&serial=SN42").decode()
        expect(live.locator("tr", has_text="boot.ipxe").filter(has_text=MAC).first).to_be_visible()
        log("ok: the boot script request arrived in the live log")
        urls = re.findall(r"^(?:kernel|initrd)\s+(?:--name \S+\s+)?(http://\S+)", script, re.M)
        assert urls, f"no kernel in the boot script:\n{script}"
        for url in urls:
            http_get(url)
        expect(live.locator("tr", has_text=urls[0].rsplit("/", 1)[-1]).first).to_be_visible()
        log(f"ok: {len(urls)} kernel/initrd fetches arrived in the live log")
        page.get_by_role("button", name="Pause").click()
        http_get(f"{args.http}/boot.ipxe?mac={MAC}")
        expect(page.get_by_text("1 new event while paused")).to_be_visible()
        page.get_by_role("button", name="Resume").click()
        page.get_by_label("Protocol").select_option("tftp")
        expect(live.locator("tr:visible", has_text="boot.ipxe")).to_have_count(0)
        page.get_by_label("Protocol").select_option("")
        log("ok: pause, resume and the protocol filter")
        shot(page, "live")
        page.locator("table.live").get_by_role("link", name=MAC).first.click()
        expect(page.get_by_role("heading", name=re.compile("Boot timeline"))).to_be_visible()
        tl = page.locator("ol.timeline").first
        for step in ["DHCP", "TFTP", "Script", "Kernel"]:
            expect(tl.locator(f'.step.done[data-stage="{step}"]')).to_be_visible()
        log("ok: the timeline shows DHCP → TFTP → script → kernel")
        shot(page, "timeline")

        page.goto(f"{admin}/#/clients/{MAC}")
        expect(page.get_by_role("heading", name=re.compile(MAC))).to_be_visible()
        expect(page.get_by_text("Fleet Lab")).to_be_visible()
        shot(page, "client")

        # --- unattended installs: a template copied from a starter, a group using it -------
        page.get_by_role("link", name="Installs").click()
        expect(page.get_by_role("heading", name="Installs")).to_be_visible()
        starter = page.locator('table.templates tr[data-name="starter-kickstart"]')
        expect(starter.locator(".badge")).to_have_text("built-in")
        expect(starter.get_by_role("button", name="Delete")).to_have_count(0)
        starter.get_by_role("button", name="Copy").click()
        dlg = page.get_by_role("dialog")
        dlg.get_by_label("Name").fill("lab-ks")
        dlg.get_by_label("Description").fill("Lab machines")
        expect(dlg.locator("textarea").first).not_to_be_empty()
        shot(page, "template-editor")
        dlg.get_by_role("button", name="Save").click()
        expect(dlg).to_be_hidden()
        tpl = page.locator('table.templates tr[data-name="lab-ks"]')
        expect(tpl).to_contain_text("Lab machines")
        expect(tpl.locator(".badge")).to_have_count(0)
        log("ok: a template copied from starter-kickstart is listed")
        page.get_by_role("button", name="New group…").click()
        dlg = page.get_by_role("dialog")
        dlg.get_by_label("Name").fill("lab")
        dlg.get_by_label("Template").select_option("lab-ks")
        dlg.get_by_label("Metadata").fill("site=lab\nrack=r1")
        dlg.get_by_role("button", name="Save").click()
        expect(dlg).to_be_hidden()
        grp = page.locator('table.groups tr[data-name="lab"]')
        expect(grp).to_contain_text("lab-ks")
        expect(grp).to_contain_text("rack=r1")
        log("ok: a group with that template and metadata is listed")
        page.get_by_role("button", name="New secret…").click()
        dlg = page.get_by_role("dialog")
        dlg.get_by_label("Name").fill("root_pw")
        dlg.get_by_label("Value").fill("s3cret-value")
        dlg.get_by_role("button", name="Save").click()
        expect(dlg).to_be_hidden()
        expect(page.locator("table.secrets")).to_contain_text("root_pw")
        expect(page.locator("main")).not_to_contain_text("s3cret-value")
        log("ok: a secret is stored, its value not shown")
        page.evaluate("window.scrollTo(0, 0)")
        shot(page, "installs")

        page.goto(f"{admin}/#/clients/{MAC}")
        expect(page.get_by_role("heading", name=re.compile(MAC))).to_be_visible()
        page.get_by_role("button", name=f"Edit {MAC}").click()
        dlg = page.get_by_role("dialog")
        dlg.get_by_label("Group").fill("lab")
        dlg.get_by_label("Metadata").fill("role=web")
        dlg.get_by_role("button", name="Save").click()
        expect(dlg).to_be_hidden()
        expect(page.locator("dl.facts").first).to_contain_text("role=web")
        # The group's kickstart template does not fit the Ubuntu image: the page says so.
        expect(page.locator("dl.install")).to_contain_text("lab-ks")
        log("ok: the client joined the group; its install names the group's template")
        shot(page, "client-install")
        # An install reported done: the machine boots its disk until reinstalled.
        status = page.evaluate("""mac => fetch(`/api/v1/clients/${mac}`, {method: 'PATCH',
            headers: {'content-type': 'application/json'}, body: JSON.stringify({local_boot: true})})
            .then(r => r.status)""", MAC)
        assert status == 200, status
        page.reload()
        badge = page.locator("dl.facts").first.locator(".badge", has_text="local disk")
        expect(badge).to_be_visible()
        page.get_by_role("button", name="Reinstall").click()
        expect(badge).to_have_count(0)
        expect(page.get_by_role("button", name="Reinstall")).to_have_count(0)
        log("ok: a machine on its local disk shows it, and reinstall clears it")
        page.get_by_role("link", name="Images").click()
        page.locator("table.images tbody tr", has_text=name).get_by_role("button", name="Edit").click()
        dlg = page.get_by_role("dialog")
        expect(dlg.get_by_label("Install template").locator('option[value="lab-ks"]')).to_have_count(1)
        dlg.get_by_role("button", name="Cancel").click()
        expect(dlg).to_be_hidden()
        log("ok: the image dialog offers the templates")

        deploys_step(page, args, shot)

        page.get_by_role("link", name="Dashboard").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.locator(".stat", has_text="Boot events, 1 h")).not_to_contain_text(re.compile(r"^Boot events, 1 h0"))
        shot(page, "dashboard")
        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_label("Menu title")).to_be_editable()
        shot(page, "settings")

        # --- a viewer sees no write action ------------------------------------------------
        page.get_by_role("link", name="Users").click()
        page.get_by_role("button", name="Add user…").click()
        dlg = page.get_by_role("dialog")
        dlg.get_by_label("Name").fill("watcher")
        dlg.get_by_label("Role").select_option("viewer")
        dlg.get_by_label("Password").fill("watcher-pass-1")
        dlg.get_by_role("button", name="Add").click()
        expect(page.locator("table").first).to_contain_text("watcher")
        shot(page, "users")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_label("Username")).to_be_visible()
        page.get_by_label("Username").fill("watcher")
        page.get_by_label("Password").fill("watcher-pass-1")
        page.get_by_role("button", name="Log in").click()
        expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
        expect(page.locator("#who")).to_contain_text("viewer")
        page.get_by_role("link", name="Images").click()
        expect(page.locator("table.images tbody tr", has_text=name)).to_be_visible()
        for label in ["Upload ISO…", "Download from URL…", "Rescan", "Edit", "Delete"]:
            expect(page.get_by_role("button", name=label, exact=False)).to_have_count(0)
        expect(page.locator("#dropzone")).to_have_count(0)
        shot(page, "viewer-images")
        page.get_by_role("link", name="Clients").click()
        expect(page.locator(f'table.clients tr[data-mac="{MAC}"]')).to_be_visible()
        for label in ["Assign", "Unassign", "Wake", "Edit"]:
            expect(page.get_by_role("button", name=label)).to_have_count(0)
        page.get_by_role("link", name="Installs").click()
        expect(page.locator('table.templates tr[data-name="lab-ks"]')).to_be_visible()
        expect(page.get_by_role("button", name="View template lab-ks")).to_be_visible()
        for label in ["New template…", "New group…", "New secret…", "Edit", "Copy", "Delete"]:
            expect(page.get_by_role("button", name=label)).to_have_count(0)
        expect(page.locator("table.secrets")).to_have_count(0)
        page.get_by_role("link", name="Deploys").click()
        sessions = page.locator("table.sessions tbody tr[data-id]")
        expect(sessions).to_have_count(4)
        expect(page.locator("table.deploys tbody tr[data-id]")).to_have_count(2)
        expect(page.get_by_role("button", name=re.compile("^Receivers of")).first).to_be_visible()
        for label in ["Send a file…", "New deploy…", "Cancel"]:
            expect(page.get_by_role("button", name=label)).to_have_count(0)
        expect(page.get_by_role("button", name=re.compile("^Cancel "))).to_have_count(0)
        shot(page, "viewer-deploys")
        page.locator("table.deploys tbody tr[data-id]").first.get_by_role("link").click()
        expect(page.locator(f'table.machines tr[data-mac="{MAC}"]')).to_contain_text("pending")
        expect(page.get_by_role("button", name=re.compile("^Cancel"))).to_have_count(0)
        page.get_by_role("link", name="Settings").click()
        expect(page.get_by_label("Menu title")).not_to_be_editable()
        expect(page.get_by_role("button", name="Save settings")).to_have_count(0)
        page.get_by_role("link", name="Users").click()
        expect(page.get_by_text("only admins see and manage users")).to_be_visible()
        log("ok: a viewer sees no write action")
        page.get_by_role("button", name="Log out").click()
        expect(page.get_by_label("Username")).to_be_visible()

        # --- the phone width ---------------------------------------------------------------
        # Dark, too: the screenshots show both schemes.
        phone = browser.new_context(viewport={"width": 390, "height": 844}, color_scheme="dark")
        pp = phone.new_page()
        pp.goto(admin + "/")
        pp.get_by_label("Username").fill("admin")
        pp.get_by_label("Password").fill(args.password)
        pp.get_by_role("button", name="Log in").click()
        pp.get_by_role("link", name="Images").click()
        expect(pp.get_by_role("heading", name="Images")).to_be_visible()
        width = pp.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the page scrolls sideways at phone width: {width}px"
        pp.screenshot(path=os.path.join(args.out, "phone-images.png"))
        pp.get_by_role("link", name="Deploys").click()
        expect(pp.locator("table.sessions tbody tr[data-id]").first).to_be_visible()
        width = pp.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"the Deploys page scrolls sideways at phone width: {width}px"
        pp.screenshot(path=os.path.join(args.out, "phone-deploys.png"))
        log("ok: phone width fits (tables scroll inside their box)")
        phone.close()

        # --- a locked-out source: last, it locks 127.0.0.1 out for a minute ---------------
        page.goto(admin + "/#/login")
        for _ in range(20):
            page.get_by_label("Username").fill("admin")
            page.get_by_label("Password").fill("wrong")
            page.get_by_role("button", name="Log in").click()
            alert = page.get_by_role("alert")
            expect(alert).to_be_visible()
            expect(page.get_by_role("button", name="Log in")).to_be_enabled()
            if "Too many failed logins" in alert.inner_text():
                break
        expect(page.get_by_role("alert")).to_contain_text("Too many failed logins from this address")
        shot(page, "login-locked-out")
        log("ok: a locked-out source gets its own message")

        if errors:
            failures.append(f"errors in the browser console: {errors}")
        browser.close()

    for f in failures:
        log(f"FAILED: {f}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
