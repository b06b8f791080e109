// pages.test.mjs - kindling's pages in Debian's headless Chromium, driven by
// playwright-core (no browser download: executablePath /usr/bin/chromium).
// Run by tests/e2e/test_pages.sh, which starts kindling and creates the
// clusters; prints one "PASS name" / "FAIL name" line per check.
//
//   BASE   kindling's URL            MODE   empty | pages | auth
//   SHOTS  screenshot folder         TOKEN  the admin token (MODE=auth)
//   XSS    the hostile var value of cluster "xss"
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const BASE = process.env.BASE;
const MODE = process.env.MODE || 'pages';
const SHOTS = process.env.SHOTS || 'build/screenshots';
const TOKEN = process.env.TOKEN || '';
const XSS = process.env.XSS || '';
const STEP_MS = 60000; // a hang guard, not a speed check

let failures = 0;
const pass = (name) => console.log(`PASS browser ${MODE}: ${name}`);
const fail = (name, why) => {
	failures++;
	console.log(`FAIL browser ${MODE}: ${name}: ${String(why).split('\n')[0]}`);
};
const assert = (cond, msg) => {
	if (!cond) {
		throw new Error(msg);
	}
};

// Every page is watched: console errors, page errors, failed requests,
// HTTP errors and dialogs are collected and checked after each step.
function watch(page) {
	const w = { problems: [], dialogs: [], allow: new Set() };
	page.on('console', (m) => {
		if (m.type() === 'error' || m.type() === 'warning') {
			w.problems.push(`console ${m.type()}: ${m.text()}`);
		}
	});
	page.on('pageerror', (e) => w.problems.push(`page error: ${e.message}`));
	page.on('requestfailed', (r) => {
		// leaving a live page closes its event stream: not a problem
		if (/\/events$/.test(r.url()) && r.failure()?.errorText === 'net::ERR_ABORTED') {
			return;
		}
		w.problems.push(`request failed: ${r.url()} ${r.failure()?.errorText}`);
	});
	page.on('response', (r) => {
		if (r.status() >= 400 && !w.allow.has(r.status())) {
			w.problems.push(`HTTP ${r.status()} for ${r.url()}`);
		}
	});
	page.on('dialog', (d) => {
		w.dialogs.push(d.message());
		d.dismiss().catch(() => {});
	});
	return w;
}

let shotNo = 0;
async function shot(page, name) {
	shotNo++;
	const file = path.join(SHOTS, `${MODE}-${String(shotNo).padStart(2, '0')}-${name}.png`);
	await page.screenshot({ path: file, fullPage: true });
}

// Runs one named check with a fresh problem list; expected HTTP error
// statuses (and the console lines Chromium prints for them) are allowed.
async function step(page, w, name, fn, allowStatuses = [], allowProblems = []) {
	w.problems.length = 0;
	w.allow = new Set(allowStatuses);
	const allowed = [...allowProblems, ...allowStatuses.map((s) =>
		new RegExp(`Failed to load resource: the server responded with a status of ${s}\\b`))];
	try {
		await Promise.race([
			fn(),
			new Promise((_, reject) =>
				setTimeout(() => reject(new Error(`timed out after ${STEP_MS} ms`)), STEP_MS)),
		]);
		await page.waitForTimeout(50); // late console messages
		const problems = w.problems.filter((p) => !allowed.some((re) => re.test(p)));
		assert(problems.length === 0, problems.join('; '));
		assert(w.dialogs.length === 0, `a dialog opened: ${w.dialogs.join('; ')}`);
		pass(name);
	} catch (e) {
		fail(name, e.message);
	}
}

const names = async (page) =>
	page.$$eval('#clusters tbody th[scope=row] a', (as) => as.map((a) => a.textContent));

async function launch(extra = {}) {
	const userDataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'kindling-chromium-'));
	const context = await chromium.launchPersistentContext(userDataDir, {
		executablePath: '/usr/bin/chromium',
		headless: true,
		args: [
			'--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
			'--disable-background-networking', '--disable-component-update', '--disable-sync',
		],
		viewport: { width: 1280, height: 900 },
		...extra,
	});
	return {
		context,
		close: async () => {
			await context.close();
			fs.rmSync(userDataDir, { recursive: true, force: true });
		},
	};
}

async function modeEmpty() {
	const { context, close } = await launch();
	const page = context.pages()[0] || (await context.newPage());
	const w = watch(page);
	await step(page, w, 'the empty list shows how to create the first cluster', async () => {
		const resp = await page.goto(`${BASE}/`);
		assert(resp.status() === 200, `status ${resp.status()}`);
		assert((await page.title()) === 'Clusters · kindling', `title ${await page.title()}`);
		const cmd = await page.textContent('#create-cmd');
		assert(cmd.includes(`curl -s -X POST ${BASE}/clusters`), `command: ${cmd}`);
		assert(await page.isVisible('button[data-copy=create-cmd]'), 'no copy button');
		await shot(page, 'empty-list');
	});
	await close();
}

async function modePages() {
	const { context, close } = await launch();
	await context.grantPermissions(['clipboard-read', 'clipboard-write'], { origin: BASE });
	const page = context.pages()[0] || (await context.newPage());
	const w = watch(page);

	await step(page, w, 'the list shows clusters with every column', async () => {
		const resp = await page.goto(`${BASE}/?limit=10`);
		assert(resp.status() === 200, `status ${resp.status()}`);
		assert(resp.headers()['content-security-policy']?.includes("default-src 'none'"), 'no CSP');
		const got = await names(page);
		assert(got.join() === 'c01,c02,c03,c04,c05,c06,c07,c08,c09,c10', `names ${got}`);
		assert((await page.textContent('.summary p')).trim() === '31 clusters', 'total');
		const heads = await page.$$eval('#clusters thead th', (ths) => ths.map((t) => t.textContent.trim()));
		assert(heads.join('|') === 'Name ↑|Profiles|Size|Members|Config fetches|Health|Ignition|Created', `heads ${heads}`);
		const bar = await page.$eval('#clusters tbody tr progress', (p) => [p.value, p.max, p.getAttribute('aria-label')]);
		assert(bar[0] === 0 && bar[1] === 3 && bar[2] === 'c01: 0 of 3 members registered', `progress ${bar}`);
		const css = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
		assert(css === 'rgb(244, 245, 247)', `stylesheet not applied: ${css}`);
		await shot(page, 'list');
	});

	await step(page, w, 'the first Tab lands on the skip link, keyboard focus is visible', async () => {
		await page.keyboard.press('Tab');
		const focused = await page.evaluate(() => [document.activeElement.className,
			getComputedStyle(document.activeElement).outlineStyle]);
		assert(focused[0] === 'skip' && focused[1] === 'solid', `focused ${focused}`);
	});

	await step(page, w, 'paginate: next, next, previous with the keyset cursor', async () => {
		await page.click('a[rel=next]');
		let got = await names(page);
		assert(got[0] === 'c11' && got.length === 10, `page 2: ${got}`);
		assert(page.url().includes('cursor=c10') && page.url().includes('limit=10'), page.url());
		await page.click('a[rel=next]');
		got = await names(page);
		assert(got[0] === 'c21' && got.at(-1) === 'c30', `page 3: ${got}`);
		await shot(page, 'list-page3');
		await page.click('a[rel=next]');
		got = await names(page);
		assert(got.join() === 'xss', `page 4: ${got}`);
		assert(await page.$('a[rel=next]') === null, 'a next link on the last page');
		await page.click('a[rel=prev]');
		got = await names(page);
		assert(got[0] === 'c21' && got.length === 10, `back to page 3: ${got}`);
		await page.click('a[rel=prev]');
		await page.click('a[rel=prev]');
		got = await names(page);
		assert(got[0] === 'c01' && got.length === 10, `back to page 1: ${got}`);
		assert(await page.$('a[rel=prev]') === null, 'a previous link on the first page');
	});

	await step(page, w, 'search filters by name and keeps the page size', async () => {
		await page.fill('#q', 'c2');
		await page.press('#q', 'Enter');
		await page.waitForURL(/q=c2/);
		const got = await names(page);
		assert(got.join() === 'c20,c21,c22,c23,c24,c25,c26,c27,c28,c29', `names ${got}`);
		assert(page.url().includes('limit=10'), page.url());
		assert((await page.textContent('.summary p')).includes('10 clusters matching “c2”'), 'summary');
		await shot(page, 'search');
		await page.fill('#q', 'zzz');
		await page.press('#q', 'Enter');
		await page.waitForURL(/q=zzz/);
		assert((await page.textContent('main')).includes('No cluster name contains “zzz”.'), 'no-match text');
	});

	await step(page, w, 'sort by name and by created, both ways', async () => {
		await page.goto(`${BASE}/?limit=10`);
		await page.click('#clusters thead a:has-text("Name")');
		let got = await names(page);
		assert(got[0] === 'xss' && got[1] === 'c30', `-name: ${got}`);
		assert(await page.getAttribute('#clusters thead th:first-child', 'aria-sort') === 'descending', 'aria-sort');
		await page.click('#clusters thead a:has-text("Created")');
		got = await names(page);
		assert(got[0] === 'xss' && got[1] === 'c01', `created: ${got}`);
		await page.click('#clusters thead a:has-text("Created")');
		got = await names(page);
		assert(got[0] === 'c30' && got.at(-1) === 'c21', `-created: ${got}`);
		await page.click('a[rel=next]');
		got = await names(page);
		assert(got[0] === 'c20' && page.url().includes('sort=-created'), `-created page 2: ${got}`);
		await shot(page, 'sorted');
	});

	await step(page, w, 'open a detail page from the list', async () => {
		await page.goto(`${BASE}/?q=xss`);
		await page.click('#clusters a:has-text("xss")');
		await page.waitForURL(`${BASE}/clusters/xss`);
		assert((await page.textContent('h1')) === 'xss', 'h1');
		const members = await page.textContent('#members');
		assert(members.includes('1 of 3') && members.includes('http://10.0.0.2:2380'), `members: ${members}`);
		const fetches = await page.$$eval('#fetches tbody tr', (trs) => trs.map((t) => t.textContent));
		// only served fetches are the record of nodes that booted: the refused
		// one (no token) is counted in /metrics, not listed here
		assert(fetches.length === 1 && fetches.some((t) => t.includes('2.14.0') && t.includes('200 served')),
			`fetches: ${fetches}`);
		assert(!fetches.some((t) => t.includes('401')), `fetches: ${fetches}`);
		assert(await page.$('#pointer-json') === null, 'the pointer is shown before reveal');
		const secrets = await page.$$eval('#secrets-list dd', (dds) => dds.map((d) => d.textContent));
		assert(secrets.length === 2 && secrets.every((s) => s === '••••••••'), `secrets: ${secrets}`);
		await shot(page, 'detail');
	});

	await step(page, w, 'hostile vars render as text: no dialog, no script, literal DOM text', async () => {
		const text = await page.textContent('#vars-list dd');
		assert(text === XSS, `vars text: ${text}`);
		const scripts = await page.$$eval('script', (ss) => ss.map((s) => s.getAttribute('src')));
		assert(scripts.length === 1 && scripts[0].startsWith('/static/kindling.js?v='), `scripts: ${scripts}`);
		assert(await page.$('b') === null, 'a <b> element was injected');
		assert(await page.$('textarea') === null, 'a textarea appeared');
		// (Inline styles would be CSP violations, caught as console errors;
		// Chromium's autofill adds a style attribute of its own to inputs.)
		const inline = await page.$$eval('*', (els) => els.filter((e) =>
			[...e.attributes].some((a) => a.name.startsWith('on')))
			.map((e) => [...e.attributes].map((a) => a.name).join(' ')));
		assert(inline.length === 0, `elements with inline event handlers: ${inline}`);
	});

	let pointerText = '';
	await step(page, w, 'reveal the pointer and the secrets', async () => {
		await page.click('#reveal-pointer');
		await page.waitForURL(/reveal=1/);
		pointerText = await page.textContent('#pointer-json');
		const pointer = JSON.parse(pointerText);
		assert(pointer.ignition.config.replace.source === `${BASE}/clusters/xss/ignition`, 'source');
		const secrets = await page.$$eval('#secrets-list dd', (dds) => dds.map((d) => d.textContent));
		assert(secrets.length === 2 && secrets.every((s) => /^[A-Za-z0-9]{16,}$/.test(s)), `secrets: ${secrets}`);
		const config = await page.textContent('#config-json');
		assert(secrets.every((s) => config.includes(s)), 'the revealed config lacks the secrets');
		assert(!config.includes('hiddenUntilRevealed'), 'the revealed config is masked');
		await shot(page, 'detail-revealed');
	});

	await step(page, w, 'copy the pointer to the clipboard', async () => {
		await page.click('button[data-copy=pointer-json]');
		await page.waitForFunction(() =>
			document.getElementById('pointer-json-status').textContent.includes('Copied'));
		const clip = await page.evaluate(() => navigator.clipboard.readText());
		assert(clip === pointerText, 'the clipboard differs from the pointer shown');
		const served = await (await fetch(`${BASE}/clusters/xss/userdata`)).json();
		assert(JSON.stringify(JSON.parse(clip)) === JSON.stringify(served), 'differs from GET /userdata');
		await page.click('button[data-copy=pointer-base64]');
		await page.waitForFunction(() =>
			document.getElementById('pointer-base64-status').textContent.includes('Copied'));
		const b64 = await page.evaluate(() => navigator.clipboard.readText());
		const want = await (await fetch(`${BASE}/clusters/xss/userdata?format=base64`)).text();
		assert(b64 === want, 'the base64 copy differs from GET /userdata?format=base64');
	});

	await step(page, w, 'switch the rendered config to another spec version', async () => {
		await page.selectOption('#version', '2.3.0');
		await page.click('#config button[type=submit]');
		await page.waitForURL(/version=2\.3\.0/);
		const config = JSON.parse(await page.textContent('#config-json'));
		assert(config.ignition.version === '2.3.0', `version ${config.ignition.version}`);
		assert(page.url().includes('reveal=1'), 'the reveal was dropped');
		assert(await page.$eval('#version', (s) => s.value) === '2.3.0', 'selector');
		await shot(page, 'config-2.3.0');
		await page.goto(`${BASE}/clusters/xss?version=3.4.0`);
		const masked = await page.textContent('#config-json');
		assert(JSON.parse(masked).ignition.version === '3.4.0' && masked.includes('hiddenUntilRevealed'),
			'unrevealed 3.4.0 config');
	});

	await step(page, w, 'the detail page of a cluster that does not exist is a 404 page', async () => {
		const resp = await page.goto(`${BASE}/clusters/nope`);
		assert(resp.status() === 404 && (await page.textContent('h1')) === 'No such cluster', 'page');
	}, [404]);

	await step(page, w, 'live: a fetch, a registration and a boot report from outside appear without a reload', async () => {
		const created = await fetch(`${BASE}/clusters`, {
			method: 'POST',
			headers: { 'Content-Type': 'application/json' },
			body: JSON.stringify({ name: 'live', size: 3 }),
		});
		assert(created.status === 201, `create: ${created.status}`);
		const c = await created.json();
		await page.goto(`${BASE}/clusters/live`);
		await page.waitForSelector('#live:not([hidden])', { timeout: 10000 });
		await page.evaluate(() => { window.kindlingNotReloaded = true; });
		const auth = c.pointer.ignition.config.replace.httpHeaders[0].value;
		const t0 = Date.now();
		const got = await fetch(`${BASE}/clusters/live/ignition`, {
			headers: { Authorization: auth, 'User-Agent': 'Ignition/2.14.0' },
		});
		assert(got.status === 200, `fetch: ${got.status}`);
		const put = await fetch(`${c.discovery_url}/8e9e05c52164694d?prevExist=false`, {
			method: 'PUT',
			headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
			body: 'value=' + encodeURIComponent('node-one=http://10.0.0.1:2380'),
		});
		assert(put.status === 201, `registration: ${put.status}`);
		await page.waitForFunction(() =>
			/node-one/.test(document.getElementById('members')?.textContent || '') &&
			/2\.14\.0/.test(document.getElementById('fetches')?.textContent || '') &&
			/1 of 3 members registered · 1 config fetches/.test(
				document.getElementById('summary')?.textContent || ''),
		null, { timeout: 2000 }).catch(async (e) => {
			const text = async (id) => (await page.textContent(`#${id}`).catch(() => '')) || '';
			throw new Error(`${e.message}: summary "${(await text('summary')).trim()}", live ` +
				`"${await text('live')}", members "${(await text('members')).slice(0, 200)}", ` +
				`fetches "${(await text('fetches')).slice(0, 300)}"`.replace(/\s+/g, ' '));
		});
		const ms = Date.now() - t0;
		// the node's boot report (the report profile's POST): its lane gets a report mark
		const rep = await fetch(`${BASE}/clusters/live/reports`, {
			method: 'POST',
			headers: { Authorization: auth, 'Content-Type': 'application/json' },
			body: JSON.stringify({ hostname: 'node-one', boot_id: '0f1e2d3c-1111-4222-8333-444455556666',
				addresses: ['127.0.0.1', '10.0.0.1'], ignition: 'success', services: { etcd: 'healthy' },
				failed_units: [] }),
		});
		assert(rep.status === 204, `report: ${rep.status}`);
		await page.waitForFunction(() =>
			/Nodes \(1 healthy, 0 failed\)/.test(document.getElementById('nodes')?.textContent || '') &&
			document.querySelectorAll('#timeline-svg .mark-fetch, #timeline-svg .mark-register, ' +
				'#timeline-svg .mark-healthy').length === 3,
		null, { timeout: 2000 }).catch(async (e) => {
			throw new Error(`${e.message}: nodes "${((await page.textContent('#nodes').catch(() => '')) || '')
				.slice(0, 300)}"`.replace(/\s+/g, ' '));
		});
		assert(await page.evaluate(() => window.kindlingNotReloaded === true), 'the page reloaded');
		await page.$eval('#nodes', (n) => n.scrollIntoView());
		await shot(page, 'live-cluster');
		console.log(`# live: fetch and registration shown ${ms} ms after they were made`);
		const gone = await fetch(`${BASE}/clusters/live`, { method: 'DELETE' });
		assert(gone.status === 204, `delete: ${gone.status}`);
	});

	await step(page, w, 'delete refuses a wrong confirmation', async () => {
		await page.goto(`${BASE}/clusters/c05`);
		await page.fill('#confirm', 'c5');
		await Promise.all([page.waitForNavigation(), page.click('#delete button[type=submit]')]);
		assert((await page.textContent('h1')) === 'Not deleted', await page.textContent('h1'));
		const resp = await page.goto(`${BASE}/clusters/c05`);
		assert(resp.status() === 200, 'c05 is gone');
	}, [422]);

	await step(page, w, 'delete a cluster through the confirmation form', async () => {
		await page.goto(`${BASE}/clusters/c05#delete`);
		await shot(page, 'delete-form');
		await page.fill('#confirm', 'c05');
		await Promise.all([page.waitForURL(`${BASE}/`), page.click('#delete button[type=submit]')]);
		assert((await page.textContent('h1')) === 'Clusters', 'not back on the list');
		assert((await page.textContent('.summary p')).trim() === '30 clusters', 'total after delete');
		assert(!(await names(page)).includes('c05'), 'c05 still listed');
		const r = await fetch(`${BASE}/clusters/c05`);
		assert(r.status === 404, `GET /clusters/c05: ${r.status}`);
	});

	// Generations (issue 15): c07 was PATCHed twice by test_pages.sh.
	const genRows = async () =>
		page.$$eval('#generations-table tbody tr', (trs) => trs.map((tr) => tr.id));
	await step(page, w, 'the cluster page lists its generations and the nodes on each', async () => {
		await page.goto(`${BASE}/clusters/c07#generations`);
		const rows = await genRows();
		assert(rows.join() === 'generation-3,generation-2,generation-1', `rows ${rows}`);
		const cur = await page.textContent('#generation-3 td');
		assert(cur.includes('(current)'), `current: ${cur}`);
		const changed = await page.textContent('#generation-3');
		assert(changed.includes('etcd_join_retry'), `what changed: ${changed}`);
		assert((await page.textContent('#nodes-by-generation')).length > 0, 'nodes per generation');
		await page.locator('#generations').screenshot({ path: path.join(SHOTS, `${MODE}-generations.png`) });
		await shot(page, 'generations');
	});
	await step(page, w, 'the diff page shows the changed lines of two generations', async () => {
		await page.goto(`${BASE}/clusters/c07#generations`);
		await Promise.all([page.waitForURL(/\/diff\?from=2&to=3$/),
			page.click('#generation-3 a[href*="/diff"]')]);
		const del = await page.$$eval('.diff .del', (s) => s.map((e) => e.textContent));
		const add = await page.$$eval('.diff .add', (s) => s.map((e) => e.textContent));
		assert(del.join() === '- KINDLING_JOIN_RETRY=20', `removed ${del}`);
		assert(add.join() === '+ KINDLING_JOIN_RETRY=30', `added ${add}`);
		await shot(page, 'diff');
	});
	await step(page, w, 'rollback asks for the name, then makes a new generation', async () => {
		await page.goto(`${BASE}/clusters/c07#generations`);
		await page.fill('#rollback-generation', '1');
		await page.fill('#rollback-confirm', 'c08');
		await shot(page, 'rollback-confirm');
		await Promise.all([page.waitForURL(/\/clusters\/c07\/rollback$/),
			page.click('#rollback-form button[type=submit]')]);
		assert((await page.textContent('h1')).includes('Not rolled back'), 'wrong name accepted');
		await page.goto(`${BASE}/clusters/c07#generations`);
		assert((await genRows()).length === 3, 'a refused rollback changed the history');
		await page.fill('#rollback-generation', '1');
		await page.fill('#rollback-confirm', 'c07');
		await Promise.all([page.waitForURL(`${BASE}/clusters/c07#generations`),
			page.click('#rollback-form button[type=submit]')]);
		const rows = await genRows();
		assert(rows[0] === 'generation-4' && rows.length === 4, `rows ${rows}`);
		const what = await page.textContent('#generation-4');
		assert(what.includes('rollback to generation 1'), `generation 4: ${what}`);
		await shot(page, 'after-rollback');
	}, [422]);

	await step(page, w, 'a phone-sized screen: no sideways scrolling, rows become cards', async () => {
		await page.setViewportSize({ width: 390, height: 844 });
		await page.goto(`${BASE}/?limit=5`);
		const wide = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		assert(wide <= 0, `the list is ${wide}px too wide`);
		const display = await page.$eval('#clusters tbody tr', (tr) => getComputedStyle(tr).display);
		assert(display === 'block', `rows are ${display}`);
		await shot(page, 'phone-list');
		await page.goto(`${BASE}/clusters/xss?reveal=1`);
		const wide2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
		assert(wide2 <= 0, `the detail page is ${wide2}px too wide`);
		await shot(page, 'phone-detail');
		await page.setViewportSize({ width: 1280, height: 900 });
	});
	await close();

	// Without JavaScript the pages work, and delete still does.
	const nojs = await launch({ javaScriptEnabled: false });
	const p2 = nojs.context.pages()[0] || (await nojs.context.newPage());
	const w2 = watch(p2);
	await step(p2, w2, 'without JavaScript: copy buttons stay hidden, delete works', async () => {
		await p2.goto(`${BASE}/clusters/c06?reveal=1`);
		assert(!(await p2.isVisible('button[data-copy=pointer-json]')), 'a copy button without JS');
		assert((await p2.textContent('#pointer-json')).includes('"replace"'), 'pointer');
		await p2.fill('#confirm', 'c06');
		await Promise.all([p2.waitForURL(`${BASE}/`), p2.click('#delete button[type=submit]')]);
		assert((await p2.textContent('.summary p')).trim() === '29 clusters', 'total after delete');
		await shot(p2, 'nojs-after-delete');
	});
	await nojs.close();
}

async function modeAuth() {
	const anon = await launch();
	const p1 = anon.context.pages()[0] || (await anon.context.newPage());
	const w1 = watch(p1);
	await step(p1, w1, 'with a token and no credentials: 401 with a Basic challenge', async () => {
		// Chromium gives up on the challenge (no credentials): the navigation
		// fails, but the 401 and its header arrive first.
		const seen = p1.waitForEvent('response', (r) => r.url() === `${BASE}/`);
		await p1.goto(`${BASE}/`).catch((e) => {
			assert(/ERR_INVALID_AUTH_CREDENTIALS/.test(e.message), e.message);
		});
		const resp = await seen;
		assert(resp.status() === 401, `status ${resp.status()}`);
		const challenge = resp.headers()['www-authenticate'] || '';
		assert(/Basic realm="kindling"/.test(challenge), `WWW-Authenticate: ${challenge}`);
	}, [401], [/ERR_INVALID_AUTH_CREDENTIALS/]);
	await anon.close();

	const authed = await launch({ httpCredentials: { username: 'operator', password: TOKEN } });
	const p2 = authed.context.pages()[0] || (await authed.context.newPage());
	const w2 = watch(p2);
	await step(p2, w2, 'with Basic credentials (the token as password): the list', async () => {
		const resp = await p2.goto(`${BASE}/?q=guarded`);
		assert(resp.status() === 200, `status ${resp.status()}`);
		assert((await names(p2)).join() === 'guarded,guarded2', `names ${await names(p2)}`);
		await shot(p2, 'list-with-token');
	}, [401]);
	await step(p2, w2, 'with Basic credentials: detail page and delete', async () => {
		await p2.goto(`${BASE}/clusters/guarded2`);
		await p2.fill('#confirm', 'guarded2');
		await Promise.all([p2.waitForURL(`${BASE}/`), p2.click('#delete button[type=submit]')]);
		await p2.goto(`${BASE}/?q=guarded`);
		assert((await names(p2)).join() === 'guarded', `names ${await names(p2)}`);
	}, [401]);
	await authed.close();
}

const modes = { empty: modeEmpty, pages: modePages, auth: modeAuth };
try {
	if (!BASE || !modes[MODE]) {
		throw new Error('set BASE and MODE (empty, pages or auth)');
	}
	fs.mkdirSync(SHOTS, { recursive: true });
	await modes[MODE]();
} catch (e) {
	fail('the browser test runs', e.stack || e.message);
}
process.exit(failures ? 1 : 0);
