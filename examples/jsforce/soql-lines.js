#!/usr/bin/env node
'use strict';
/**
 * A long-running jsforce program: one SOQL query per line on stdin, one JSON line per answer on
 * stdout ({"totalSize", "records"} or {"error"}). One Connection serves every query; when its
 * session ends (revoked, expired), jsforce's refreshFn gets a fresh token from sf-credproc.
 *
 *   sf-credproc exec --server [get options] -- node soql-lines.js < queries.soql
 */
const readline = require('node:readline');
const { connect } = require('./sf-credproc-connection');

async function main() {
  const conn = await connect();
  conn.on('refresh', () => process.stderr.write('session refreshed through sf-credproc\n'));
  const lines = readline.createInterface({ input: process.stdin, crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.trim()) continue;
    let answer;
    try {
      const result = await conn.query(line);
      answer = { totalSize: result.totalSize, records: result.records };
    } catch (error) {
      answer = { error: error.message };
    }
    process.stdout.write(JSON.stringify(answer) + '\n');
  }
}

main().catch((error) => {
  process.stderr.write(`soql-lines: ${error.message}\n`);
  process.exit(1);
});
