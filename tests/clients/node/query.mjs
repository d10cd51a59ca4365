// The official Node.js client (@clickhouse/client) against a running collector, set up as
// docs/analysis.md says: `url` and `pathname` on the collector's port, or `url` alone on
// the query port. Prints one JSON line of what it got; the pytest test judges it.
//
//   node query.mjs URL PATHNAME TOKEN      (PATHNAME "" for none)
import { ClickHouseLogLevel, createClient } from "@clickhouse/client";

const [url, pathname, token] = process.argv.slice(2);
const client = createClient({
  url,
  ...(pathname ? { pathname } : {}),
  username: "analyst",
  password: token,
  database: "microx",
  // The refusals below are expected; the client would log each one as an error.
  log: { level: ClickHouseLogLevel.OFF },
});

async function refusal(query) {
  try {
    await client.command({ query });
    return { refused: false };
  } catch (error) {
    return { refused: true, code: error.code, type: error.type, message: error.message };
  }
}

try {
  const ping = await client.ping();
  const count = await client.query({
    query: "SELECT count() AS n FROM microx.events",
    format: "JSONEachRow",
  });
  const types = await client.query({
    query: "SELECT type, count() AS n FROM events GROUP BY type ORDER BY type",
    format: "JSONEachRow",
  });
  const bound = await client.query({
    query: "SELECT {a:UInt32} * 2 AS doubled",
    query_params: { a: 21 },
    format: "JSONEachRow",
  });
  const result = {
    ping: ping.success,
    count: Number((await count.json())[0].n),
    types: Object.fromEntries((await types.json()).map((r) => [r.type, Number(r.n)])),
    doubled: (await bound.json())[0].doubled,
    insert: await refusal("INSERT INTO microx.events (site) VALUES ('x')"),
    drop: await refusal("DROP TABLE microx.events"),
    file: await refusal("SELECT * FROM file('/etc/passwd', 'LineAsString')"),
  };
  console.log(JSON.stringify(result));
} finally {
  await client.close();
}
