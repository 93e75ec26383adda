'use strict';
// The client scenarios of cmd/sidecache/clients_scenarios_test.go, through ioredis and
// node-redis (the current major and v5), each in RESP3 and RESP2, over TCP and the Unix
// socket. Run by clients_node_test.go:
//
//   node scenarios.js --tcp HOST:PORT --unix PATH [--require-lib-name]
//
// Prints one JSON line per check: {"lib","transport","resp","scenario","check","ok"}, with
// "got" and "want" when a check fails, and last {"done":true,"checks":N,"failed":M}. Exits
// 1 when a check failed. --require-lib-name: CLIENT LIST must show lib-name= (the server
// has CLIENT SETINFO; the 7.0 reference server has not).

const { isDeepStrictEqual } = require('node:util');
const Redis = require('ioredis');
const redis = require('redis');
const redis5 = require('redis5');

const RATE_LIMIT = 5;
const SESSION_TTL = 1800; // seconds
const DEDUP_SHORT_PX = 100; // ms: the dedup key that must expire during the run
const EXPIRY_DEADLINE = 5000; // ms: bound on waiting for it to expire
const CMD_TIMEOUT = 5000; // ms

function parseArgs(argv) {
  const a = { requireLibName: false };
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--tcp') a.tcp = argv[++i];
    else if (argv[i] === '--unix') a.unix = argv[++i];
    else if (argv[i] === '--require-lib-name') a.requireLibName = true;
    else throw new Error('unknown argument ' + argv[i]);
  }
  if (!a.tcp || !a.unix) throw new Error('usage: node scenarios.js --tcp HOST:PORT --unix PATH [--require-lib-name]');
  return a;
}

let checks = 0;
let failed = 0;

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + '\n');
}

// checkReplies compares a pipeline's replies one by one and reports the first that differs.
function checkReplies(ctx, cmds, got, want) {
  for (let i = 0; i < want.length; i++) {
    if (!isDeepStrictEqual(got[i], want[i])) {
      return check(ctx, `reply ${i} to ${cmds[i].join(' ')}`, got[i], want[i]);
    }
  }
  return check(ctx, `${want.length} replies in order`, got.length, want.length);
}

// check records one comparison; values are compared structurally.
function check(ctx, name, got, want) {
  checks++;
  const ok = isDeepStrictEqual(got, want);
  const line = { ...ctx, check: name, ok };
  if (!ok) {
    failed++;
    line.got = got === undefined ? null : got;
    line.want = want;
  }
  emit(line);
  return ok;
}

function fail(ctx, name, err) {
  checks++;
  failed++;
  emit({ ...ctx, check: name, ok: false, got: String(err && err.message ? err.message : err), want: 'no error' });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// pipelineScript mirrors pipelineScript in clients_scenarios_test.go: 100 mixed commands
// and the reply each must get ("OK", an integer as a number, a bulk's contents, or null).
function pipelineScript(prefix) {
  const s = (i) => prefix + 's:' + i;
  const f = (i) => 'f:' + i;
  const ctr = prefix + 'ctr';
  const h = prefix + 'h';
  const cmds = [];
  const want = [];
  let n = 0;
  for (let i = 0; i < 100; i++) {
    switch (i % 10) {
      case 0: cmds.push(['SET', s(i), String(i)]); want.push('OK'); break;
      case 1: cmds.push(['GET', s(i - 1)]); want.push(String(i - 1)); break;
      case 2: n++; cmds.push(['INCR', ctr]); want.push(n); break;
      case 3: cmds.push(['HSET', h, f(i), String(i)]); want.push(1); break;
      case 4: cmds.push(['HGET', h, f(i - 1)]); want.push(String(i - 1)); break;
      case 5: cmds.push(['EXISTS', s(i - 5)]); want.push(1); break;
      case 6: cmds.push(['GET', prefix + 'missing:' + i]); want.push(null); break;
      case 7: n += 10; cmds.push(['INCRBY', ctr, '10']); want.push(n); break;
      case 8: cmds.push(['DEL', s(i - 8)]); want.push(1); break;
      case 9: cmds.push(['HINCRBY', h, f(i - 6), '1']); want.push(i - 6 + 1); break;
    }
  }
  return { cmds, want };
}

// checkHandshake finds the connection named name in CLIENT LIST (the string the server
// sent) and checks resp= and lib-name=.
function checkHandshake(ctx, list, name, libName, resp, requireLibName) {
  const conns = String(list).trim().split('\n').map((line) => {
    const f = {};
    for (const kv of line.trim().split(' ')) {
      const i = kv.indexOf('=');
      if (i > 0) f[kv.slice(0, i)] = kv.slice(i + 1);
    }
    return f;
  }).filter((f) => f.name === name);
  if (!check(ctx, 'connection named ' + name, conns.length > 0, true)) return;
  for (const f of conns) {
    check(ctx, 'resp=', f.resp, String(resp));
    if (f['lib-name'] === undefined && !requireLibName) {
      emit({ ...ctx, check: 'lib-name=', ok: true, note: 'not checked: the server predates CLIENT SETINFO (7.2)' });
      continue;
    }
    check(ctx, 'lib-name=', f['lib-name'], libName);
    check(ctx, 'lib-ver= set', (f['lib-ver'] || '') !== '', true);
  }
}

async function waitExpired(exists) {
  const deadline = Date.now() + EXPIRY_DEADLINE;
  for (;;) {
    if (!(await exists())) return true;
    if (Date.now() > deadline) return false;
    await sleep(10);
  }
}

// ---- ioredis ----

function ioredisConnect(tr, resp, name) {
  const opts = {
    protocol: resp,
    connectionName: name,
    lazyConnect: true,
    connectTimeout: CMD_TIMEOUT,
    commandTimeout: CMD_TIMEOUT,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  };
  if (tr.path) opts.path = tr.path;
  else Object.assign(opts, { host: tr.host, port: tr.port });
  const c = new Redis(opts);
  c.on('error', () => {}); // a command's own promise reports its error
  return c.connect().then(() => c);
}

const ioredisScenarios = {
  async session(ctx, c, k) {
    const sess = k + 'session:abc';
    check(ctx, 'HSET', await c.hset(sess, { user: '42', name: 'ada', role: 'admin', hits: '0' }), 4);
    check(ctx, 'EXPIRE', await c.expire(sess, SESSION_TTL), 1);
    check(ctx, 'HGETALL', await c.hgetall(sess), { user: '42', name: 'ada', role: 'admin', hits: '0' });
    check(ctx, 'HGET', await c.hget(sess, 'name'), 'ada');
    check(ctx, 'HGET missing field', await c.hget(sess, 'nosuch'), null);
    check(ctx, 'HINCRBY', await c.hincrby(sess, 'hits', 3), 3);
    check(ctx, 'HINCRBY non-integer', await c.hincrby(sess, 'name', 1).then(() => 'no error', (e) => e.message), 'ERR hash value is not an integer');
    check(ctx, 'HDEL', await c.hdel(sess, 'role', 'nosuch'), 1);
    check(ctx, 'HGETALL after HDEL', await c.hgetall(sess), { user: '42', name: 'ada', hits: '3' });
    const ttl = await c.ttl(sess);
    check(ctx, 'TTL in (0, 1800]', ttl > 0 && ttl <= SESSION_TTL, true);
    check(ctx, 'HGETALL missing', await c.hgetall(k + 'session:none'), {});
  },

  async ratelimit(ctx, c, k) {
    let key = k + 'rl:user42';
    for (let i = 1; i <= RATE_LIMIT + 1; i++) {
      const [[e1, n], [e2, set]] = await c.pipeline().incr(key).expire(key, 60, 'NX').exec();
      check(ctx, `request ${i}: INCR, EXPIRE NX`, [e1, n, e2, set], [null, i, null, i === 1 ? 1 : 0]);
      check(ctx, `request ${i}: allowed`, n <= RATE_LIMIT, i <= RATE_LIMIT);
    }
    const ttl = await c.ttl(key);
    check(ctx, 'TTL of the window in (0, 60]', ttl > 0 && ttl <= 60, true);
    key = k + 'rl-px:user42';
    for (let i = 1; i <= RATE_LIMIT + 1; i++) {
      const n = await c.incr(key);
      check(ctx, `request ${i}: INCR`, n, i);
      if (n === 1) check(ctx, 'PEXPIRE', await c.pexpire(key, 60000), 1);
      check(ctx, `request ${i}: allowed`, n <= RATE_LIMIT, i <= RATE_LIMIT);
    }
    const pttl = await c.pttl(key);
    check(ctx, 'PTTL of the window in (0, 60000]', pttl > 0 && pttl <= 60000, true);
  },

  async dedup(ctx, c, k) {
    let key = k + 'dedup:msg-1';
    check(ctx, 'SET NX EX first', await c.set(key, 'seen', 'EX', 60, 'NX'), 'OK');
    check(ctx, 'SET NX EX second', await c.set(key, 'seen', 'EX', 60, 'NX'), null);
    key = k + 'dedup:msg-2';
    check(ctx, 'SET NX PX first', await c.set(key, 'seen', 'PX', DEDUP_SHORT_PX, 'NX'), 'OK');
    check(ctx, 'SET NX PX second', await c.set(key, 'seen', 'PX', DEDUP_SHORT_PX, 'NX'), null);
    check(ctx, 'expired within the deadline', await waitExpired(async () => (await c.exists(key)) === 1), true);
    check(ctx, 'SET NX PX after expiry', await c.set(key, 'seen', 'PX', DEDUP_SHORT_PX, 'NX'), 'OK');
  },

  async pipeline(ctx, c, k) {
    const { cmds, want } = pipelineScript(k + 'pl:');
    const res = await c.pipeline(cmds.map(([name, ...args]) => [name.toLowerCase(), ...args])).exec();
    checkReplies(ctx, cmds, res.map(([err, v]) => (err ? 'error: ' + err.message : v)), want);
  },

  async tx(ctx, c, k) {
    const a = k + 'tx:a';
    const h = k + 'tx:h';
    const res = await c.multi().set(a, '1').incr(a).hset(h, 'f', 'v').expire(a, 60).get(a).exec();
    check(ctx, 'EXEC replies', res, [[null, 'OK'], [null, 2], [null, 1], [null, 1], [null, '2']]);
  },

  async watch(ctx, c, k, other) {
    const bal = k + 'tx:balance';
    await c.set(bal, '100');
    await c.watch(bal);
    const n = Number(await c.get(bal));
    check(ctx, 'SET from another connection', await other.set(bal, '50'), 'OK');
    check(ctx, 'EXEC after a concurrent write is aborted (null)', await c.multi().set(bal, String(n - 10)).exec(), null);
    check(ctx, 'GET after the aborted transaction', await c.get(bal), '50');
    await c.watch(bal);
    const m = Number(await c.get(bal));
    check(ctx, 'retry EXEC', await c.multi().set(bal, String(m - 10)).exec(), [[null, 'OK']]);
    check(ctx, 'GET after the retry', await c.get(bal), '40');
  },

  async clientList(c) {
    return c.client('LIST');
  },
};

// ---- node-redis (v5 and the current major share the API used here) ----

function nodeRedisConnect(mod) {
  return async (tr, resp, name) => {
    const socket = { connectTimeout: CMD_TIMEOUT, reconnectStrategy: false };
    if (tr.path) socket.path = tr.path;
    else Object.assign(socket, { host: tr.host, port: tr.port });
    const c = mod.createClient({ socket, RESP: resp, name, commandOptions: { timeout: CMD_TIMEOUT } });
    c.on('error', () => {}); // a command's own promise reports its error
    await c.connect();
    return c;
  };
}

function nodeRedisScenarios(mod) {
  return {
    async session(ctx, c, k) {
      const sess = k + 'session:abc';
      check(ctx, 'HSET', await c.hSet(sess, { user: '42', name: 'ada', role: 'admin', hits: '0' }), 4);
      check(ctx, 'EXPIRE', await c.expire(sess, SESSION_TTL), 1);
      check(ctx, 'HGETALL', { ...(await c.hGetAll(sess)) }, { user: '42', name: 'ada', role: 'admin', hits: '0' });
      check(ctx, 'HGET', await c.hGet(sess, 'name'), 'ada');
      check(ctx, 'HGET missing field', await c.hGet(sess, 'nosuch'), null);
      check(ctx, 'HINCRBY', await c.hIncrBy(sess, 'hits', 3), 3);
      check(ctx, 'HINCRBY non-integer', await c.hIncrBy(sess, 'name', 1).then(() => 'no error', (e) => e.message), 'ERR hash value is not an integer');
      check(ctx, 'HDEL', await c.hDel(sess, ['role', 'nosuch']), 1);
      check(ctx, 'HGETALL after HDEL', { ...(await c.hGetAll(sess)) }, { user: '42', name: 'ada', hits: '3' });
      const ttl = await c.ttl(sess);
      check(ctx, 'TTL in (0, 1800]', ttl > 0 && ttl <= SESSION_TTL, true);
      check(ctx, 'HGETALL missing', { ...(await c.hGetAll(k + 'session:none')) }, {});
    },

    async ratelimit(ctx, c, k) {
      let key = k + 'rl:user42';
      for (let i = 1; i <= RATE_LIMIT + 1; i++) {
        const [n, set] = await c.multi().incr(key).expire(key, 60, 'NX').execAsPipeline();
        check(ctx, `request ${i}: INCR, EXPIRE NX`, [n, set], [i, i === 1 ? 1 : 0]);
        check(ctx, `request ${i}: allowed`, n <= RATE_LIMIT, i <= RATE_LIMIT);
      }
      const ttl = await c.ttl(key);
      check(ctx, 'TTL of the window in (0, 60]', ttl > 0 && ttl <= 60, true);
      key = k + 'rl-px:user42';
      for (let i = 1; i <= RATE_LIMIT + 1; i++) {
        const n = await c.incr(key);
        check(ctx, `request ${i}: INCR`, n, i);
        if (n === 1) check(ctx, 'PEXPIRE', await c.pExpire(key, 60000), 1);
        check(ctx, `request ${i}: allowed`, n <= RATE_LIMIT, i <= RATE_LIMIT);
      }
      const pttl = await c.pTTL(key);
      check(ctx, 'PTTL of the window in (0, 60000]', pttl > 0 && pttl <= 60000, true);
    },

    async dedup(ctx, c, k) {
      let key = k + 'dedup:msg-1';
      const ex = { condition: 'NX', expiration: { type: 'EX', value: 60 } };
      check(ctx, 'SET NX EX first', await c.set(key, 'seen', ex), 'OK');
      check(ctx, 'SET NX EX second', await c.set(key, 'seen', ex), null);
      key = k + 'dedup:msg-2';
      const px = { condition: 'NX', expiration: { type: 'PX', value: DEDUP_SHORT_PX } };
      check(ctx, 'SET NX PX first', await c.set(key, 'seen', px), 'OK');
      check(ctx, 'SET NX PX second', await c.set(key, 'seen', px), null);
      check(ctx, 'expired within the deadline', await waitExpired(async () => (await c.exists(key)) === 1), true);
      check(ctx, 'SET NX PX after expiry', await c.set(key, 'seen', px), 'OK');
    },

    async pipeline(ctx, c, k) {
      const { cmds, want } = pipelineScript(k + 'pl:');
      const m = c.multi();
      for (const cmd of cmds) m.addCommand(cmd);
      checkReplies(ctx, cmds, await m.execAsPipeline(), want);
    },

    async tx(ctx, c, k) {
      const a = k + 'tx:a';
      const h = k + 'tx:h';
      const res = await c.multi().set(a, '1').incr(a).hSet(h, 'f', 'v').expire(a, 60).get(a).exec();
      check(ctx, 'EXEC replies', res, ['OK', 2, 1, 1, '2']);
    },

    async watch(ctx, c, k, other) {
      const bal = k + 'tx:balance';
      await c.set(bal, '100');
      await c.watch(bal);
      const n = Number(await c.get(bal));
      check(ctx, 'SET from another connection', await other.set(bal, '50'), 'OK');
      const aborted = await c.multi().set(bal, String(n - 10)).exec().then(
        (r) => ({ replies: r }),
        (e) => (e instanceof mod.WatchError ? 'WatchError' : String(e)));
      check(ctx, 'EXEC after a concurrent write throws WatchError', aborted, 'WatchError');
      check(ctx, 'GET after the aborted transaction', await c.get(bal), '50');
      await c.watch(bal);
      const m = Number(await c.get(bal));
      check(ctx, 'retry EXEC', await c.multi().set(bal, String(m - 10)).exec(), ['OK']);
      check(ctx, 'GET after the retry', await c.get(bal), '40');
    },

    async clientList(c) {
      return String(await c.sendCommand(['CLIENT', 'LIST']));
    },
  };
}

const libraries = [
  { lib: 'ioredis@' + require('ioredis/package.json').version, libName: 'ioredis', connect: ioredisConnect, scenarios: ioredisScenarios, quit: (c) => c.quit() },
  { lib: 'node-redis@' + require('redis/package.json').version, libName: 'node-redis', connect: nodeRedisConnect(redis), scenarios: nodeRedisScenarios(redis), quit: (c) => c.close() },
  { lib: 'node-redis@' + require('redis5/package.json').version, libName: 'node-redis', connect: nodeRedisConnect(redis5), scenarios: nodeRedisScenarios(redis5), quit: (c) => c.quit() },
];

async function runOne(l, tr, resp, requireLibName) {
  const tag = `${l.libName}-${l.lib.split('@')[1]}-${tr.name}-resp${resp}`;
  const base = { lib: l.lib, transport: tr.name, resp };
  const name = tag.replace(/[^A-Za-z0-9.-]/g, '_');
  let c;
  let other;
  try {
    c = await l.connect(tr, resp, name);
    other = await l.connect(tr, resp, name + '-other');
  } catch (e) {
    fail({ ...base, scenario: 'connect' }, 'connect', e);
    for (const x of [c, other]) if (x) await l.quit(x).catch(() => {});
    return;
  }
  const k = 'node:' + tag + ':';
  try {
    const ctx = { ...base, scenario: 'handshake' };
    try {
      checkHandshake(ctx, await l.scenarios.clientList(c), name, l.libName, resp, requireLibName);
    } catch (e) {
      fail(ctx, 'CLIENT LIST', e);
    }
    for (const s of ['session', 'ratelimit', 'dedup', 'pipeline', 'tx', 'watch']) {
      const ctx = { ...base, scenario: s };
      try {
        await l.scenarios[s](ctx, c, k, other);
      } catch (e) {
        fail(ctx, 'exception', e);
      }
    }
  } finally {
    for (const x of [c, other]) await l.quit(x).catch(() => {});
  }
}

async function main() {
  const args = parseArgs(process.argv.slice(2));
  const i = args.tcp.lastIndexOf(':');
  const transports = [
    { name: 'tcp', host: args.tcp.slice(0, i), port: Number(args.tcp.slice(i + 1)) },
    { name: 'unix', path: args.unix },
  ];
  for (const l of libraries) {
    for (const tr of transports) {
      for (const resp of [3, 2]) {
        await runOne(l, tr, resp, args.requireLibName);
      }
    }
  }
  emit({ done: true, checks, failed });
  process.exitCode = failed > 0 ? 1 : 0;
}

main().catch((e) => {
  emit({ done: false, error: String(e && e.stack ? e.stack : e) });
  process.exitCode = 2;
});
