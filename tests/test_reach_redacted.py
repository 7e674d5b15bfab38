"""A Redis password never reaches an error message, wherever in the URL it was given."""

from __future__ import annotations

import pytest

from warmline.errors import ServiceError
from warmline.reach import check_redis, without_password
from warmline.services.ports import free_port


def test_a_password_in_the_query_is_not_printed() -> None:
    """redis-py takes `?password=` as the password as readily as the one before the host; only
    the latter was masked, so the former was printed whole when the server did not answer."""
    port = free_port()
    with pytest.raises(ServiceError) as raised:
        check_redis(f"redis://127.0.0.1:{port}/0?password=hunter2&socket_keepalive=true")
    message = str(raised.value)
    assert message.startswith(
        f"cannot reach Redis at redis://127.0.0.1:{port}/0?password=***&socket_keepalive=true: "
    ), message
    assert "hunter2" not in message


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("redis://127.0.0.1:6379/0?db=1", "redis://127.0.0.1:6379/0?db=1"),
        (
            "rediss://app:s3cret@cache.example:6379/0?password=s3cret",
            "rediss://app:***@cache.example:6379/0?password=***",
        ),
        ("unix:///run/redis.sock?db=0&password=s3cret", "unix:///run/redis.sock?db=0&password=***"),
        ("redis://h/0?password=a&password=b", "redis://h/0?password=***&password=***"),
        ("redis://h/0?my_password=x", "redis://h/0?my_password=x"),
    ],
)
def test_every_password_in_the_url_is_masked(url: str, shown: str) -> None:
    assert without_password(url) == shown
