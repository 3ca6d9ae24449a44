"""Time to Live: the sweeper that deletes expired items.

DynamoDB deletes an item some time after the Number of epoch seconds in its
TTL attribute has passed, in the background, without consuming capacity;
until then the item stays readable (reads never filter it).  Items whose TTL
attribute is missing or not a Number are never deleted, nor are items whose
value is more than five years in the past (DynamoDB's guard against
milliseconds or other units mistaken for seconds).  Each deletion goes
through :meth:`kvstore.schema.Table.remove`, so indexes follow and an
enabled stream gets a REMOVE record whose ``userIdentity`` is the service
(``{"Type": "Service", "PrincipalId": "dynamodb.amazonaws.com"}``).

:func:`sweep` does a bounded amount of work per call -- at most ``budget``
items examined -- and remembers where it stopped in each table (the table's
ring partition and the position inside it), so that the server can call it
on every tick without ever holding the event loop for long
(``server/app.py``, ``--ttl-interval``).  The engine is single-threaded per
shard, so a call sees the tables as of its start and nothing changes under
it.  Embedded users call ``db.sweep_ttl()`` themselves.

UpdateTimeToLive / DescribeTimeToLive live in ``kvstore/api/control.py``;
a table's TTL setting is ``table.ttl``.
"""

from .streams import SERVICE_IDENTITY

__all__ = ["sweep", "is_expired", "FIVE_YEARS_SECONDS", "DEFAULT_BUDGET"]

FIVE_YEARS_SECONDS = 5 * 365 * 24 * 3600
DEFAULT_BUDGET = 5_000


def is_expired(av, now):
    """Whether a TTL attribute value (an AttributeValue or None) has expired at ``now``."""
    if type(av) is not dict:
        return False
    n = av.get("N")
    if type(n) is not str:
        return False
    try:
        value = float(n)
    except ValueError:
        return False
    return now - FIVE_YEARS_SECONDS <= value < now


def sweep(db, now=None, budget=None):
    """Delete expired items of every table with TTL enabled, examining at
    most ``budget`` items.  Returns (deleted, done): ``done`` is True when the
    call reached the end of every such table (a full pass)."""
    now = db.wall_clock() if now is None else now
    budget = DEFAULT_BUDGET if budget is None else budget
    db.streams.expire(now)
    state = db.ttl_state
    deleted = 0
    done = True
    for name, table in list(db.tables.items()):
        ttl = table.ttl
        if ttl is None or not ttl.get("Enabled"):
            state.pop(name, None)
            continue
        cursor = state.get(name)
        if cursor is None or cursor[0] is not table:
            cursor = (table, 0, None)
        if budget <= 0:
            done = False
            break
        _, position, after = cursor
        indexes = sorted(table.partitions)
        attribute = ttl["AttributeName"]
        finished = True
        while position < len(indexes):
            partition = table.partitions[indexes[position]]
            doomed = []
            last = None
            for token, hk, sk, item in partition.scan(after):
                last = (token, hk, sk)
                budget -= 1
                if is_expired(item.get(attribute), now):
                    doomed.append((partition, token, hk, sk))
                if budget <= 0:
                    break
            for loc in doomed:
                if table.remove(loc, SERVICE_IDENTITY) is not None:
                    deleted += 1
            if budget <= 0 and last is not None:
                after = last
                finished = False
                break
            position += 1
            after = None
        if finished:
            state.pop(name, None)
        else:
            state[name] = (table, position, after)
            done = False
            break
    return deleted, done
