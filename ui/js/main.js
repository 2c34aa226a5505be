// Start-up: wire the screens, the navigation and the status bar.

import { available, call } from './api.js';
import { $, $$, notice } from './dom.js';
import { loadChanges } from './changes.js';
import { initOrganizations, reload as reloadOrganizations } from './organizations.js';
import { initPartners, listedCount, reload as reloadPartners } from './partners.js';
import { checkForUpdates, initSettings, loadSettings } from './settings.js';
import { initStatus } from './status.js';
import { initTransfer } from './transfer.js';

const SCREENS = {
  partners: reloadPartners,
  organizations: reloadOrganizations,
  changes: loadChanges,
  settings: loadSettings,
};

function show(name) {
  for (const screen of $$('.screen')) screen.hidden = screen.id !== `screen-${name}`;
  for (const button of $$('.tabs button')) {
    if (button.id === `nav-${name}`) button.setAttribute('aria-current', 'page');
    else button.removeAttribute('aria-current');
  }
  SCREENS[name]();
}

if (!available) {
  notice('Partnerbook must be opened as the desktop app; this page alone cannot reach your data.', true);
} else {
  for (const name of Object.keys(SCREENS)) $(`#nav-${name}`).addEventListener('click', () => show(name));
  // After a sync that changed something, the lists show the new badges and records.
  initStatus((result) => {
    const r = result && result.report;
    if (r && (r.sent || r.adopted || r.rejected || r.conflicts || r.pulled_new || r.pulled_updated || r.deleted_remotely || r.restored)) {
      reloadPartners();
      reloadOrganizations();
    }
  });
  // Shortcuts, shown in the buttons' and fields' tooltips: Ctrl+N a new record, / or Ctrl+F the search.
  document.addEventListener('keydown', (event) => {
    const screen = $$('.screen').find((s) => !s.hidden);
    if (!screen || document.querySelector('dialog[open]')) return;
    const typing = ['INPUT', 'TEXTAREA', 'SELECT'].includes(document.activeElement.tagName);
    const key = event.key.toLowerCase();
    if ((event.ctrlKey || event.metaKey) && key === 'n') {
      const add = screen.querySelector('.toolbar button.primary');
      if (add) { event.preventDefault(); add.click(); }
    } else if (((event.ctrlKey || event.metaKey) && key === 'f') || (key === '/' && !typing)) {
      const search = screen.querySelector('input[type="search"]');
      if (search) { event.preventDefault(); search.focus(); search.select(); }
    }
  });
  initTransfer();
  initSettings();
  initOrganizations();
  // Start-up ends when the first partner list is on screen: two frames (laid out, then painted).
  initPartners().then(() => requestAnimationFrame(() => requestAnimationFrame(() => {
    call('window_ready', { partners: listedCount() }).catch(() => {});
    // After start-up, not during it: at most once a day, and only if IT set an address.
    checkForUpdates();
  })));
}
