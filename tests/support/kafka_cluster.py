"""librdkafka's mock cluster (tests/support/kafka_mock.c) for the Kafka tests
and benchmark: three mock brokers on 127.0.0.1, error injection, brokers
down and up, leader moves, and a consumer that reads the topic back.

The mock cluster is librdkafka's own imitation of Kafka brokers, not Apache
Kafka: it speaks the protocol the producer uses (idempotent produce,
metadata, fetch) and fails requests when told to."""
import json
import os
import subprocess
import time

from harness import build_path
from procs import die_with_test

# Kafka protocol API keys and error codes the tests inject.
PRODUCE = 0
INIT_PRODUCER_ID = 22
NOT_LEADER_OR_FOLLOWER = 6
REQUEST_TIMED_OUT = 7
MESSAGE_TOO_LARGE = 10
NOT_ENOUGH_REPLICAS = 19
TOPIC_AUTHORIZATION_FAILED = 29
CLUSTER_AUTHORIZATION_FAILED = 31
TRANSPORT = -195  # librdkafka's __TRANSPORT: the mock broker disconnects


class KafkaCluster:
    def __init__(self, brokers=3, topic="venue-events", partitions=3):
        self.topic = topic
        self.proc = subprocess.Popen([build_path("tests", "support", "kafka_mock"), "cluster", str(brokers),
                                      topic, str(partitions)], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True, bufsize=1, preexec_fn=die_with_test)
        line = self.proc.stdout.readline()
        if not line.startswith("bootstrap "):
            self.close()
            raise RuntimeError("kafka_mock did not start: %r" % line)
        self.bootstrap = line.split(" ", 1)[1].strip()

    def command(self, text):
        self.proc.stdin.write(text + "\n")
        self.proc.stdin.flush()
        answer = self.proc.stdout.readline().strip()
        if answer != "ok":
            raise RuntimeError("kafka_mock %s: %s" % (text, answer))

    def push_errors(self, apikey, *errors):
        self.command("errors %d %s" % (apikey, " ".join(str(e) for e in errors)))

    def down(self, broker):
        self.command("down %d" % broker)

    def up(self, broker):
        self.command("up %d" % broker)

    def leader(self, partition, broker):
        self.command("leader %d %d" % (partition, broker))

    def conf(self, topic=None):
        """The [output] and [kafka] sections of a gateway writing here."""
        return ("\n[output]\nkind = kafka\n[kafka]\nbrokers = %s\ntopic = %s\nsecurity_protocol = plaintext\n"
                % (self.bootstrap, topic or self.topic))

    def read_all(self, count=0, idle_ms=1500, timeout=120, topic=None):
        """Every record of the topic, from the start: dicts with partition,
        offset, key, headers and value (the parsed JSON message)."""
        args = [build_path("tests", "support", "kafka_mock"), "consume", self.bootstrap, topic or self.topic,
                str(idle_ms)]
        if count:
            args.append(str(count))
        out = subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=True)
        return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]

    def offsets(self, topic=None):
        """{partition: (low, high)}: high counts every record ever appended, low is
        the first the mock still keeps."""
        out = subprocess.run([build_path("tests", "support", "kafka_mock"), "offsets", self.bootstrap,
                              topic or self.topic], capture_output=True, text=True, timeout=60, check=True)
        return {int(p): (int(lo), int(hi)) for p, lo, hi in (l.split() for l in out.stdout.splitlines())}

    def read_lines(self, idle_ms=1500, timeout=120, topic=None):
        """The consumer's output lines, unparsed (for a million records)."""
        args = [build_path("tests", "support", "kafka_mock"), "consume", self.bootstrap, topic or self.topic,
                str(idle_ms)]
        with subprocess.Popen(args, stdout=subprocess.PIPE, text=True) as p:
            for line in p.stdout:
                yield line
            if p.wait(timeout=timeout) != 0:
                raise RuntimeError("kafka_mock consume failed")

    def wait_records(self, want_ids, timeout=120):
        """Read the topic until every message_id in want_ids is there (or
        timeout): the records read last."""
        end = time.monotonic() + timeout
        while True:
            recs = self.read_all(idle_ms=500)
            have = {r["headers"].get("message_id") for r in recs}
            if set(want_ids) <= have or time.monotonic() > end:
                return recs
            time.sleep(0.5)

    def close(self):
        if self.proc.poll() is None:
            try:
                self.proc.stdin.write("quit\n")
                self.proc.stdin.flush()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()
        for f in (self.proc.stdin, self.proc.stdout):
            try:
                f.close()
            except OSError:
                pass
