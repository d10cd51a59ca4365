"""ingest: the way in. One request's path, in order: ``connections`` (the HTTP/1 edge:
header size and time, keep-alive, a bound on connections), ``receive`` (the endpoints: read
the body under its caps, apply the sender's policy), ``policy`` (who may send what: a
browser with a public site id and an allowed origin, or a back end with a server key),
``validate`` (the event contract, per event), ``sites`` and ``ratelimit`` (what the policies
consult). What leaves it is a validated envelope, handed to ``rows.record`` for the spool."""
