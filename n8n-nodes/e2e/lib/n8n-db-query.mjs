/**
 * Read-only queries on n8n's SQLite database, run by Node 24 (node:sqlite; the sqlite3 binding in the
 * cache is built for Node 24 only, and the e2e runner itself runs on the system Node). Reads
 * {db, n8nDir, sql, params, flatted} as JSON on stdin and prints the rows as JSON; columns named in
 * `flatted` hold n8n's execution data, stored in the `flatted` format, and are parsed with n8n's own
 * copy of that library.
 */
import { createRequire } from "node:module";
import path from "node:path";
import { DatabaseSync } from "node:sqlite";

let raw = "";
for await (const chunk of process.stdin) raw += chunk;
const { db: file, n8nDir, sql, params = [], flatted = [] } = JSON.parse(raw);

const db = new DatabaseSync(file, { readOnly: true });
try {
  // n8n writes concurrently (WAL); wait for its locks instead of failing.
  db.exec("PRAGMA busy_timeout = 10000");
  const rows = db.prepare(sql).all(...params);
  if (flatted.length) {
    const { parse } = createRequire(path.join(n8nDir, "node_modules", "n8n", "package.json"))("flatted");
    for (const row of rows) for (const column of flatted) if (typeof row[column] === "string") row[column] = parse(row[column]);
  }
  process.stdout.write(JSON.stringify(rows));
} finally {
  db.close();
}
