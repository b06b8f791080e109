// kindling.js - the only script of kindling's pages: copy buttons and the live
// cluster page. Pages work without it; a copy button (hidden until this runs)
// copies the text of the element named by its data-copy attribute and says so
// in a live region.
'use strict';

function kindlingSelect(el) {
	const range = document.createRange();
	range.selectNodeContents(el);
	const sel = window.getSelection();
	sel.removeAllRanges();
	sel.addRange(range);
}

function kindlingCopy(button) {
	const target = document.getElementById(button.dataset.copy);
	const status = document.getElementById(button.dataset.copy + '-status');
	if (!target) {
		return;
	}
	const say = (text) => {
		if (status) {
			status.textContent = text;
		}
	};
	const text = target.textContent;
	if (navigator.clipboard && window.isSecureContext) {
		navigator.clipboard.writeText(text).then(
			() => say('Copied to the clipboard.'),
			() => {
				kindlingSelect(target);
				say('Copying was refused: the text is selected, press Ctrl+C.');
			});
	} else {
		kindlingSelect(target);
		say('Selected: press Ctrl+C to copy.');
	}
}

document.addEventListener('DOMContentLoaded', () => {
	for (const button of document.querySelectorAll('button[data-copy]')) {
		button.hidden = false;
		button.addEventListener('click', () => kindlingCopy(button));
	}
});

// Live cluster page: an element with data-events names the cluster's event
// stream. On each event the page's own HTML is fetched again and the parts
// that change as nodes boot are swapped in place (no reload, scroll kept).
// Without this script the page is a snapshot: reload it.
const kindlingLiveParts = ['summary', 'overview', 'members', 'nodes', 'fetches'];

function kindlingRefresh(live) {
	fetch(window.location.href, { headers: { Accept: 'text/html' }, credentials: 'same-origin' })
		.then((r) => (r.ok ? r.text() : Promise.reject(new Error(`HTTP ${r.status}`))))
		.then((html) => {
			const doc = new DOMParser().parseFromString(html, 'text/html');
			for (const id of kindlingLiveParts) {
				const now = document.getElementById(id);
				const next = doc.getElementById(id);
				if (now && next) {
					now.replaceWith(document.importNode(next, true));
				}
			}
			live.textContent = `Live: updated ${new Date().toLocaleTimeString()}.`;
		})
		.catch(() => {
			live.textContent = 'Live updates paused: reload the page.';
		});
}

function kindlingLive(live) {
	const source = new EventSource(live.dataset.events);
	let pending = null;
	const changed = () => {
		if (!pending) {
			pending = setTimeout(() => {
				pending = null;
				kindlingRefresh(live);
			}, 150);
		}
	};
	for (const kind of ['config-fetched', 'member-registered', 'node-reported', 'cluster-changed',
		'token-rotated', 'gap']) {
		source.addEventListener(kind, changed);
	}
	source.addEventListener('cluster-deleted', () => {
		source.close();
		live.textContent = 'This cluster was deleted.';
	});
	source.onopen = () => {
		live.hidden = false;
		live.textContent = 'Live: this page follows the cluster as its nodes boot.';
	};
	source.onerror = () => {
		live.textContent = 'Reconnecting to the live updates…';
	};
}

document.addEventListener('DOMContentLoaded', () => {
	const live = document.getElementById('live');
	if (live && live.dataset.events && window.EventSource) {
		kindlingLive(live);
	}
});
