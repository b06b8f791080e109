// kindling.js - the only script of kindling's pages: copy buttons. Pages work
// without it; a copy button (hidden until this runs) copies the text of the
// element named by its data-copy attribute and says so in a live region.
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
