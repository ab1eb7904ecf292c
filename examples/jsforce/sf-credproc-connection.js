'use strict';
/**
 * jsforce connections whose access token comes from `sf-credproc serve` (or `exec --server`).
 *
 * The endpoint holds one token for every process that asks, and keeps it fresh in the background.
 * jsforce calls `refreshFn(conn, callback)` when Salesforce answers 401 INVALID_SESSION_ID; we then
 * ask the endpoint again with `?rejected_sha256=` the SHA-256 (hex) of the token Salesforce refused:
 * compare-and-refresh, so the endpoint logs in once however many connections saw the same token
 * rejected, and never throws away a newer token another client already got.
 *
 * The endpoint is named by the environment, as `sf-credproc serve` documents:
 *   SF_CREDPROC_SERVER_URL      the full /credential URL (http on loopback only, or https), or
 *   SF_CREDPROC_SERVER_SOCKET   the path of its Unix socket;
 *   SF_CREDPROC_SERVER_TOKEN    the Authorization value (the raw token), or
 *   SF_CREDPROC_SERVER_TOKEN_FILE  a file holding it (read on every request: it may be rotated).
 * An https endpoint with a private CA needs NODE_EXTRA_CA_CERTS, as any Node https client.
 */
const crypto = require('node:crypto');
const fs = require('node:fs');
const http = require('node:http');
const https = require('node:https');
const jsforce = require('jsforce');

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

function sha256Hex(text) {
  return crypto.createHash('sha256').update(text, 'utf8').digest('hex');
}

function serverToken(env) {
  if (env.SF_CREDPROC_SERVER_TOKEN) return env.SF_CREDPROC_SERVER_TOKEN;
  if (env.SF_CREDPROC_SERVER_TOKEN_FILE) {
    return fs.readFileSync(env.SF_CREDPROC_SERVER_TOKEN_FILE, 'utf8').trim();
  }
  throw new Error('set SF_CREDPROC_SERVER_TOKEN or SF_CREDPROC_SERVER_TOKEN_FILE');
}

/** Where to send the request: a URL (and for a Unix socket, its path). */
function endpoint(env) {
  if (env.SF_CREDPROC_SERVER_SOCKET) {
    return { url: new URL('http://localhost/credential'), socketPath: env.SF_CREDPROC_SERVER_SOCKET };
  }
  if (!env.SF_CREDPROC_SERVER_URL) {
    throw new Error('set SF_CREDPROC_SERVER_URL (or SF_CREDPROC_SERVER_SOCKET)');
  }
  const url = new URL(env.SF_CREDPROC_SERVER_URL);
  // The server token would travel in clear text: http only to this machine.
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && LOOPBACK.has(url.hostname))) {
    throw new Error('SF_CREDPROC_SERVER_URL must be http on loopback, or https');
  }
  return { url };
}

/**
 * The credential JSON from the endpoint ({AccessToken, InstanceUrl, Expiration, ...}).
 * `rejected` is the token Salesforce refused, if any: only its hash is sent.
 */
function fetchCredential({ rejected, env = process.env } = {}) {
  const { url, socketPath } = endpoint(env);
  if (rejected) url.searchParams.set('rejected_sha256', sha256Hex(rejected));
  const options = { headers: { Authorization: serverToken(env) }, socketPath, timeout: 120000 };
  const client = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.get(url, options, (response) => {
      const chunks = [];
      response.on('data', (chunk) => chunks.push(chunk));
      response.on('end', () => {
        const body = Buffer.concat(chunks).toString('utf8');
        let document;
        try {
          document = JSON.parse(body);
        } catch {
          reject(new Error(`sf-credproc endpoint: HTTP ${response.statusCode}, not JSON`));
          return;
        }
        if (response.statusCode !== 200) {
          // {"code": <exit status>, "kind": ..., "message": ...}: never a secret.
          reject(new Error(`sf-credproc endpoint: HTTP ${response.statusCode}: ${document.message}`));
          return;
        }
        resolve(document);
      });
      response.on('error', reject);
    });
    request.on('timeout', () => request.destroy(new Error('sf-credproc endpoint: timed out')));
    request.on('error', reject);
  });
}

/** jsforce's refreshFn: a new token for the one `conn` holds, which Salesforce rejected. */
function refreshFn(conn, callback) {
  fetchCredential({ rejected: conn.accessToken }).then(
    (credential) => callback(null, credential.AccessToken),
    (error) => callback(error),
  );
}

/** A jsforce Connection with the endpoint's token, refreshed through it when rejected. */
async function connect(options = {}) {
  const credential = await fetchCredential();
  return new jsforce.Connection({
    version: '62.0',
    ...options,
    instanceUrl: credential.InstanceUrl,
    accessToken: credential.AccessToken,
    refreshFn,
  });
}

module.exports = { connect, fetchCredential, refreshFn, sha256Hex };
