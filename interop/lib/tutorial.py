"""Follows a tutorial of docs/ the way a reader would, from an empty
directory: runs its shell commands, writes each file it gives (marked
`<!-- file: PATH -->` before the block), builds, starts the program where
the reader types `cargo run`, and checks that every line of the output the
tutorial shows (```text blocks) appears in what the commands printed.

    python3 tutorial.py DOC ROOT WORKDIR

ROOT is the repository: the tutorial's `tetsuo = { git = ... }` becomes a
path to ROOT/crates/tetsuo (the one liberty taken), and ROOT/Cargo.lock
seeds the scratch crate's lock file so that it builds with the versions CI
tested. Comments steer the checker where a reader acts by hand:
`<!-- check: sigterm-after SECS -->` before a command runs it while the
server gets SIGTERM after SECS seconds; `<!-- check: server-output -->`
before a text block checks it against what the server printed.

Each line shown must appear in what the commands printed, in the order
shown (`<!-- check: any-order -->` before a text block lifts that), and
exactly, except for what varies between runs: `date:` headers, port
numbers after an address, and durations. A command that fails (non-zero
exit) fails the check, and so does a step that changes the program
without a `cargo run` to start the new version.
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import time

DOC, ROOT, WORK = sys.argv[1], os.path.abspath(sys.argv[2]), os.path.abspath(sys.argv[3])
FENCE = re.compile(r"^```(\S*)\s*$")


def blocks(text):
    """(section, kind, marker, body) for each fenced block, in order."""
    out, section, marker = [], None, None
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("## "):
            section = line[3:]
        m = re.match(r"^<!-- (file|check): (.+?) -->$", line)
        if m:
            marker = (m.group(1), m.group(2))
        fence = FENCE.match(line)
        if fence and fence.group(1):
            body = []
            i += 1
            while not lines[i].startswith("```"):
                body.append(lines[i])
                i += 1
            out.append((section, fence.group(1).split(",")[0], marker, "\n".join(body) + "\n"))
            marker = None
        i += 1
    return out


def normalize(line):
    line = re.sub(r"(\d+\.\d+\.\d+\.\d+|localhost|\]):\d+", r"\1:PORT", line)
    line = re.sub(r"\b\d+(\.\d+)?(ns|µs|ms|s)\b", "DURATION", line)
    return line.rstrip()


def check_output(expected, actual, what, any_order=False):
    have = [normalize(l) for l in actual.splitlines()]
    missing, at = [], 0
    for line in expected.splitlines():
        if not line.strip() or line.strip() == "..." or line.lower().startswith("date:"):
            continue
        want = normalize(line)
        if any_order:
            if want not in have:
                missing.append(line)
            continue
        # In order: the next matching line after the previous match.
        try:
            at = have.index(want, at) + 1
        except ValueError:
            missing.append(line)
    if missing:
        print("FAIL %s: missing %r\n--- got:\n%s---" % (what, missing, actual))
        return False
    print("PASS %s" % what)
    return True


class Tutorial:
    def __init__(self):
        self.cwd = WORK
        self.crate = None
        self.server = None
        self.server_log = None
        self.last_output = ""
        self.ok = True

    def stop_server(self, sig=signal.SIGKILL):
        if self.server and self.server.poll() is None:
            self.server.send_signal(sig)
            try:
                self.server.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.server.kill()
                self.server.wait()
        self.server = None

    def write(self, path, body):
        if path == "Cargo.toml":
            body = re.sub(r'tetsuo = \{ git = "[^"]+" \}',
                          'tetsuo = { path = "%s/crates/tetsuo" }' % ROOT, body)
            if not os.path.exists(os.path.join(self.cwd, "Cargo.lock")):
                shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(self.cwd, "Cargo.lock"))
        with open(os.path.join(self.cwd, path), "w") as f:
            f.write(body)

    def build(self, section):
        env = dict(os.environ, CARGO_TARGET_DIR=os.path.join(ROOT, "target"), CARGO_TERM_COLOR="never")
        r = subprocess.run(["cargo", "build", "-q"], cwd=self.cwd, env=env,
                           capture_output=True, text=True, timeout=1200)
        if r.returncode != 0:
            print("FAIL %s: cargo build\n%s" % (section, r.stderr))
            self.ok = False
            return False
        print("PASS %s: builds" % section)
        return True

    def start_server(self, section, env_prefix):
        self.stop_server()
        binary = os.path.join(ROOT, "target", "debug", self.crate)
        self.server_log = open(os.path.join(WORK, "server.log"), "w+")
        env = dict(os.environ, **env_prefix)
        self.server = subprocess.Popen([binary], cwd=self.cwd, env=env, stdout=self.server_log,
                                       stderr=subprocess.STDOUT, start_new_session=True)
        for _ in range(100):
            self.server_log.seek(0)
            if "listening on" in self.server_log.read():
                return
            time.sleep(0.1)
        print("FAIL %s: the program did not say 'listening on'" % section)
        self.ok = False

    def shell(self, section, script, marker):
        outputs = []
        for raw in script.replace("\\\n", " ").splitlines():
            cmd = raw.split(" #")[0].strip() if not raw.lstrip().startswith("#") else ""
            if not cmd:
                continue
            if cmd.startswith("cargo new "):
                self.crate = cmd.split()[-1]
                subprocess.run(cmd, shell=True, cwd=self.cwd, check=True, capture_output=True)
                continue
            if cmd.startswith("cd "):
                self.cwd = os.path.join(self.cwd, cmd[3:].strip())
                continue
            if cmd == "cargo run":
                self.start_server(section, {})
                continue
            if marker and marker[0] == "check" and marker[1].startswith("sigterm-after"):
                delay = float(marker[1].split()[1])
                proc = subprocess.Popen(cmd, shell=True, cwd=self.cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.DEVNULL, text=True)
                time.sleep(delay)
                self.stop_server(signal.SIGTERM)
                outputs.append(proc.communicate(timeout=60)[0])
                continue
            # What the reader's terminal shows: curl's progress meter and
            # the like (stderr, when not a terminal) are left out.
            r = subprocess.run(cmd, shell=True, cwd=self.cwd, capture_output=True, text=True,
                               timeout=60, executable="/bin/bash")
            outputs.append(r.stdout)
            if r.returncode != 0:
                print("FAIL %s: `%s` exited %d: %s" % (section, cmd, r.returncode, r.stderr.strip()[-300:]))
                self.ok = False
        self.last_output = "".join(outputs)

    def run(self):
        os.makedirs(WORK, exist_ok=True)
        pending_build = None
        with open(DOC) as f:
            items = blocks(f.read())
        for section, kind, marker, body in items:
            if marker and marker[0] == "file":
                self.write(marker[1], body)
                pending_build = section
                continue
            if kind == "sh":
                # Changed code: build it, and (as a reader would, with
                # `cargo run`) run the new version in place of the old.
                if pending_build:
                    if "cargo run" not in body:
                        print("FAIL %s: the program changed, but the reader is not told to `cargo run` it" % section)
                        return False
                    if not self.build(pending_build):
                        return False
                    pending_build = None
                self.shell(section, body, marker)
            elif kind == "text":
                if marker == ("check", "server-output"):
                    self.server_log.seek(0)
                    actual = self.server_log.read()
                else:
                    actual = self.last_output
                any_order = marker == ("check", "any-order")
                self.ok &= check_output(body, actual, "%s: output as shown" % section, any_order)
        if pending_build:
            self.ok &= self.build(pending_build)
        self.stop_server()
        return self.ok


if __name__ == "__main__":
    t = Tutorial()
    try:
        ok = t.run()
    finally:
        t.stop_server()
    sys.exit(0 if ok else 1)
