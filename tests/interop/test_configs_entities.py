"""`kafka-configs.sh` for clients, users and their SCRAM credentials, run as a user types it.

Client quotas (KIP-546: DescribeClientQuotas/AlterClientQuotas) and SCRAM credentials (KIP-554:
Describe/AlterUserScramCredentials) through `bin/kafka-configs.sh`, with Kafka's output lines;
both survive a clean restart and a kill -9 (they are metadata records replayed at start).
The same APIs are then driven by real clients: confluent-kafka's AdminClient (librdkafka) for
SCRAM, kafka-python's KafkaAdminClient for SCRAM and, through its protocol classes, for quotas.
Quotas are stored and described, not enforced.
"""

from __future__ import annotations

import pytest

from test_tools import ok, sh

CFG = "bin/kafka-configs.sh --bootstrap-server localhost:9092"


def fails(cmd: str, port: int) -> str:
    """Runs a command that must fail: non-zero exit, nothing on stdout, one line on stderr."""
    p, took = sh(cmd, port)
    assert p.returncode != 0, f"{cmd!r} succeeded\nstdout: {p.stdout}"
    assert p.stdout == "", p.stdout
    lines = p.stderr.splitlines()
    assert len(lines) == 1, f"{cmd!r}: expected one line on stderr, got {lines}"
    assert took < 10, f"{cmd!r} took {took:.1f}s"
    return lines[0]


def test_client_quotas_session(broker):
    port = broker.port
    assert ok(f"{CFG} --alter --add-config 'producer_byte_rate=1024,consumer_byte_rate=2048' "
              "--entity-type clients --entity-name app", port) == ["Completed updating config for client app."]
    # Kafka prints the values in its HashMap order and as Java prints doubles.
    assert ok(f"{CFG} --describe --entity-type clients --entity-name app", port) == [
        "Quota configs for client-id 'app' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0"
    ]

    assert ok(f"{CFG} --alter --add-config request_percentage=12.5 --entity-type users --entity-name alice",
              port) == ["Completed updating config for user alice."]
    # A user without SCRAM credentials gets only its quota line.
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice", port) == [
        "Quota configs for user-principal 'alice' are request_percentage=12.5"
    ]

    assert ok(f"{CFG} --alter --add-config 'producer_byte_rate=10485760,consumer_byte_rate=20971520' "
              "--entity-type users --entity-name alice --entity-type clients --entity-name app", port) == [
        "Completed updating config for user alice."
    ]
    both = ("Quota configs for user-principal 'alice', client-id 'app' are "
            "consumer_byte_rate=2.097152E7, producer_byte_rate=1.048576E7")
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice --entity-type clients --entity-name app",
              port) == [both]
    # Kafka's shorthand flags name the same entity.
    assert ok(f"{CFG} --describe --user alice --client app", port) == [both]

    assert ok(f"{CFG} --alter --add-config consumer_byte_rate=4096 --entity-type clients --entity-default",
              port) == ["Completed updating default config for clients in the cluster."]
    assert ok(f"{CFG} --alter --add-config controller_mutation_rate=5 --entity-type users --entity-default "
              "--entity-type clients --entity-default", port) == [
        "Completed updating default config for users in the cluster."
    ]
    assert ok(f"{CFG} --describe --entity-type clients --entity-default", port) == [
        "Quota configs for the default client-id are consumer_byte_rate=4096.0"
    ]
    assert ok(f"{CFG} --describe --entity-type users --entity-default --entity-type clients --entity-default",
              port) == ["Quota configs for the default user-principal, the default client-id are controller_mutation_rate=5.0"]
    # Every client-id entity (named and default), strictly: not the user+client ones.
    assert sorted(ok(f"{CFG} --describe --entity-type clients", port)) == [
        "Quota configs for client-id 'app' are consumer_byte_rate=2048.0, producer_byte_rate=1024.0",
        "Quota configs for the default client-id are consumer_byte_rate=4096.0",
    ]
    assert sorted(ok(f"{CFG} --describe --entity-type users --entity-type clients", port)) == sorted([
        both,
        "Quota configs for the default user-principal, the default client-id are controller_mutation_rate=5.0",
    ])

    assert ok(f"{CFG} --alter --delete-config producer_byte_rate --entity-type clients --entity-name app",
              port) == ["Completed updating config for client app."]
    assert ok(f"{CFG} --describe --entity-type clients --entity-name app", port) == [
        "Quota configs for client-id 'app' are consumer_byte_rate=2048.0"
    ]
    assert ok(f"{CFG} --alter --delete-config consumer_byte_rate --entity-type clients --entity-name app",
              port) == ["Completed updating config for client app."]
    assert ok(f"{CFG} --describe --entity-type clients --entity-name app", port) == []

    # Bad input: one line naming the problem, exit 1, nothing changed.
    assert fails(f"{CFG} --alter --add-config bogus_rate=1 --entity-type clients --entity-name app", port) == (
        "Only quota configs can be added for 'clients' using --bootstrap-server. Unexpected config names: bogus_rate"
    )
    assert fails(f"{CFG} --alter --add-config bogus_rate=1 --entity-type users --entity-name alice", port) == (
        "Only quota and SCRAM credential configs can be added for 'users' using --bootstrap-server. "
        "Unexpected config names: bogus_rate"
    )
    assert fails(f"{CFG} --alter --delete-config consumer_byte_rate --entity-type clients --entity-name app",
                 port) == "Invalid config(s): consumer_byte_rate"
    assert fails(f"{CFG} --alter --add-config producer_byte_rate=fast --entity-type clients --entity-name app",
                 port) == "Cannot parse quota configuration value for producer_byte_rate: fast"
    line = fails(f"{CFG} --alter --add-config producer_byte_rate=1.5 --entity-type clients --entity-name app", port)
    assert "producer_byte_rate cannot be a fractional value." in line, line
    line = fails(f"{CFG} --alter --add-config request_percentage=-3 --entity-type clients --entity-name app", port)
    assert "Quota request_percentage must be greater than 0" in line, line
    assert fails(f"{CFG} --alter --add-config producer_byte_rate=1 --entity-type users --entity-name alice "
                 "--entity-type clients", port) == "An entity name must be specified for every entity type"
    assert fails(f"{CFG} --describe --entity-type users --entity-type topics", port) == (
        "Only 'users' and 'clients' entity types may be specified together"
    )
    assert ok(f"{CFG} --describe --entity-type clients --entity-name app", port) == []


def test_scram_credentials_session(broker):
    port = broker.port
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice", port) == []
    assert ok(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]' "
              "--entity-type users --entity-name alice", port) == ["Completed updating config for user alice."]
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice", port) == [
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192"
    ]
    assert ok(f"{CFG} --alter --add-config 'SCRAM-SHA-512=[password=alice-secret]' "
              "--entity-type users --entity-name alice", port) == ["Completed updating config for user alice."]
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice", port) == [
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, "
        "SCRAM-SHA-512=iterations=4096"
    ]
    # Kafka's KRaft controller takes one change per user per request: both mechanisms in one
    # --add-config are refused (DUPLICATE_RESOURCE), and nothing changes.
    line = fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=x],"
                 "SCRAM-SHA-512=[password=x]' --entity-type users --entity-name bob", port)
    assert "A user credential cannot be altered twice in the same request" in line, line
    assert "once per mechanism" in line, line

    # Quota and SCRAM lines together, as Kafka prints them: quotas first.
    ok(f"{CFG} --alter --add-config consumer_byte_rate=20000 --entity-type users --entity-name alice", port)
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice", port) == [
        "Quota configs for user-principal 'alice' are consumer_byte_rate=20000.0",
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, "
        "SCRAM-SHA-512=iterations=4096",
    ]
    ok(f"{CFG} --alter --add-config 'SCRAM-SHA-512=[password=bob-secret]' --entity-type users --entity-name bob", port)
    described = ok(f"{CFG} --describe --entity-type users", port)
    assert sorted(described) == [
        "Quota configs for user-principal 'alice' are consumer_byte_rate=20000.0",
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192, "
        "SCRAM-SHA-512=iterations=4096",
        "SCRAM credential configs for user-principal 'bob' are SCRAM-SHA-512=iterations=4096",
    ]
    assert described[0].startswith("Quota configs"), described

    assert fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[password=x]' --entity-type users --entity-default",
                 port) == ("The use of --entity-default or --user-defaults is not allowed with User SCRAM "
                           "Credentials using --bootstrap-server.")
    assert fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[password=x],producer_byte_rate=5' "
                 "--entity-type users --entity-name carol", port) == (
        "Cannot alter both quota and SCRAM credential configs simultaneously for 'users' using --bootstrap-server."
    )
    assert fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[iterations=100,password=x]' "
                 "--entity-type users --entity-name carol", port) == (
        "Iterations 100 is less than the minimum 4096 required for SCRAM-SHA-256"
    )
    line = fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[iterations=20000,password=x]' "
                 "--entity-type users --entity-name carol", port)
    assert "Too many iterations" in line, line
    fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[password=]' --entity-type users --entity-name carol", port)
    line = fails(f"{CFG} --alter --delete-config SCRAM-SHA-256 --entity-type users --entity-name carol", port)
    assert "Attempt to delete a user credential that does not exist" in line, line
    assert fails(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[password=x]' --entity-type clients --entity-name app",
                 port) == ("Only quota configs can be added for 'clients' using --bootstrap-server. "
                           "Unexpected config names: SCRAM-SHA-256")
    assert ok(f"{CFG} --describe --entity-type users --entity-name carol", port) == []

    assert ok(f"{CFG} --alter --delete-config SCRAM-SHA-512 --entity-type users --entity-name alice", port) == [
        "Completed updating config for user alice."
    ]
    assert ok(f"{CFG} --describe --entity-type users --entity-name alice", port) == [
        "Quota configs for user-principal 'alice' are consumer_byte_rate=20000.0",
        "SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192",
    ]


@pytest.mark.parametrize("clean", [True, False], ids=["clean-restart", "kill-9"])
def test_quotas_and_credentials_survive_restart(broker, clean):
    port = broker.port
    ok(f"{CFG} --alter --add-config 'producer_byte_rate=1024,request_percentage=50' "
       "--entity-type users --entity-name alice --entity-type clients --entity-name app", port)
    ok(f"{CFG} --alter --add-config consumer_byte_rate=4096 --entity-type clients --entity-default", port)
    ok(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[iterations=8192,password=alice-secret]' "
       "--entity-type users --entity-name alice", port)
    ok(f"{CFG} --alter --add-config 'SCRAM-SHA-512=[password=bob-secret]' --entity-type users --entity-name bob", port)
    ok(f"{CFG} --alter --delete-config SCRAM-SHA-512 --entity-type users --entity-name bob", port)
    before = [
        ok(f"{CFG} --describe --entity-type users --entity-type clients", port),
        ok(f"{CFG} --describe --entity-type clients", port),
        ok(f"{CFG} --describe --entity-type users", port),
    ]
    assert before[0] == [
        "Quota configs for user-principal 'alice', client-id 'app' are producer_byte_rate=1024.0, request_percentage=50.0"
    ]
    assert before[1] == ["Quota configs for the default client-id are consumer_byte_rate=4096.0"]
    assert before[2] == ["SCRAM credential configs for user-principal 'alice' are SCRAM-SHA-256=iterations=8192"]

    broker.restart(clean=clean)
    after = [
        ok(f"{CFG} --describe --entity-type users --entity-type clients", port),
        ok(f"{CFG} --describe --entity-type clients", port),
        ok(f"{CFG} --describe --entity-type users", port),
    ]
    assert after == before
    assert broker.panics() == []


def test_confluent_admin_scram_credentials(broker):
    from confluent_kafka import KafkaException
    from confluent_kafka.admin import (
        AdminClient,
        ScramCredentialInfo,
        ScramMechanism,
        UserScramCredentialDeletion,
        UserScramCredentialUpsertion,
    )

    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "socket.timeout.ms": 10000})
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("dora", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_512, 10000), b"pw"),
    ])
    futures["dora"].result(timeout=10)
    futures = admin.alter_user_scram_credentials([
        UserScramCredentialUpsertion("dora", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw"),
        UserScramCredentialUpsertion("erin", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 4096), b"pw"),
    ])
    for f in futures.values():
        f.result(timeout=10)

    described = admin.describe_user_scram_credentials(["dora", "erin"])
    dora = described["dora"].result(timeout=10)
    infos = sorted((i.mechanism.value, i.iterations) for i in dora.scram_credential_infos)
    assert infos == [(ScramMechanism.SCRAM_SHA_256.value, 4096), (ScramMechanism.SCRAM_SHA_512.value, 10000)]
    assert ok(f"{CFG} --describe --entity-type users --entity-name dora", broker.port) == [
        "SCRAM credential configs for user-principal 'dora' are SCRAM-SHA-256=iterations=4096, "
        "SCRAM-SHA-512=iterations=10000"
    ]

    # A user the tool made is visible to librdkafka.
    ok(f"{CFG} --alter --add-config 'SCRAM-SHA-256=[iterations=5000,password=s]' --entity-type users "
       "--entity-name frank", broker.port)
    frank = admin.describe_user_scram_credentials(["frank"])["frank"].result(timeout=10)
    assert [(i.mechanism.value, i.iterations) for i in frank.scram_credential_infos] == [
        (ScramMechanism.SCRAM_SHA_256.value, 5000)
    ]

    # Errors come back per user with Kafka's codes.
    with pytest.raises(KafkaException) as e:
        admin.describe_user_scram_credentials(["nobody"])["nobody"].result(timeout=10)
    assert "RESOURCE_NOT_FOUND" in str(e.value) or "does not exist" in str(e.value), e.value
    with pytest.raises(KafkaException) as e:
        admin.alter_user_scram_credentials([
            UserScramCredentialDeletion("nobody", ScramMechanism.SCRAM_SHA_256),
        ])["nobody"].result(timeout=10)
    assert "does not exist" in str(e.value) or "RESOURCE_NOT_FOUND" in str(e.value), e.value
    with pytest.raises(KafkaException) as e:
        admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("gina", ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 100000), b"pw"),
        ])["gina"].result(timeout=10)
    assert "iterations" in str(e.value).lower(), e.value

    futures = admin.alter_user_scram_credentials([UserScramCredentialDeletion("dora", ScramMechanism.SCRAM_SHA_512)])
    futures["dora"].result(timeout=10)
    everyone = admin.describe_user_scram_credentials().result(timeout=10)
    assert sorted(everyone) == ["dora", "erin", "frank"]
    assert [i.mechanism.value for i in everyone["dora"].scram_credential_infos] == [ScramMechanism.SCRAM_SHA_256.value]


def test_kafka_python_quotas_and_scram(broker):
    from kafka.admin import KafkaAdminClient
    from kafka.admin._users import ScramMechanism, UserScramCredentialDeletion, UserScramCredentialUpsertion
    from kafka.protocol.admin import AlterClientQuotasRequest, DescribeClientQuotasRequest

    admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap, request_timeout_ms=10000)
    try:
        def send(request):
            async def go():
                return await admin._manager.send(request)
            return admin._manager.run(go)

        def alter(entity, ops, validate_only=False):
            r = send(AlterClientQuotasRequest(entries=[(entity, ops)], validate_only=validate_only))
            return [(e.error_code, e.error_message) for e in r.entries]

        assert alter([("client-id", "py")], [("producer_byte_rate", 1000.0, False)], validate_only=True) == [(0, None)]
        assert alter([("user", "u1"), ("client-id", None)], [("consumer_byte_rate", 500.0, False),
                                                             ("request_percentage", 25.5, False)]) == [(0, None)]
        code, msg = alter([("user", "u1")], [("no_such_quota", 1.0, False)])[0]
        assert code == 42 and "Invalid configuration key no_such_quota" in msg, (code, msg)  # INVALID_REQUEST
        code, msg = alter([("group", "g")], [("producer_byte_rate", 1.0, False)])[0]
        assert code == 42, (code, msg)

        r = send(DescribeClientQuotasRequest(components=[], strict=False))
        assert r.error_code == 0
        got = {
            tuple(sorted((d.entity_type, d.entity_name) for d in e.entity)): sorted((v.key, v.value) for v in e.values)
            for e in r.entries
        }
        # validate_only stored nothing.
        assert got == {(("client-id", None), ("user", "u1")): [("consumer_byte_rate", 500.0), ("request_percentage", 25.5)]}
        r = send(DescribeClientQuotasRequest(components=[("user", 0, "u1")], strict=True))
        assert r.entries == [], "strict: the user+client entity is not the user entity"
        r = send(DescribeClientQuotasRequest(components=[("user", 0, None)], strict=False))
        assert r.error_code == 42 and r.entries is None

        assert ok(f"{CFG} --describe --entity-type users --entity-name u1 --entity-type clients --entity-default",
                  broker.port) == [
            "Quota configs for user-principal 'u1', the default client-id are consumer_byte_rate=500.0, "
            "request_percentage=25.5"
        ]

        assert admin.alter_user_scram_credentials([
            UserScramCredentialUpsertion("hank", ScramMechanism.SCRAM_SHA_512, "pw", iterations=6000),
        ]) == {"hank": None}
        described = admin.describe_user_scram_credentials(["hank", "nobody"])
        assert described["hank"] == {
            "error": None,
            "credential_infos": [{"mechanism": ScramMechanism.SCRAM_SHA_512, "iterations": 6000}],
        }
        assert "does not exist" in described["nobody"]["error"]
        result = admin.alter_user_scram_credentials([
            UserScramCredentialDeletion("hank", ScramMechanism.SCRAM_SHA_512),
            UserScramCredentialUpsertion("hank", ScramMechanism.SCRAM_SHA_256, "pw"),
        ])
        assert "cannot be altered twice" in result["hank"], result
        assert ok(f"{CFG} --describe --entity-type users --entity-name hank", broker.port) == [
            "SCRAM credential configs for user-principal 'hank' are SCRAM-SHA-512=iterations=6000"
        ]
    finally:
        admin.close()
