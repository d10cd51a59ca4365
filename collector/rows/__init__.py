"""rows: the row contract. ``columns`` names the stored columns of both tables;
``record`` is the spool record (one request's validated input) and its codec; ``enrich``
turns a record into ``microx.events`` rows, the one place where server-side facts (receive
time, clock skew, User-Agent classes, language, URL cleaning) are added; ``useragent``
classifies agents."""
