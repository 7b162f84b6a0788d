// The web app's entry point: the navigation bar (with the number of requests waiting for an
// answer and the Sign out button), the hash router (`#/`, `#/requests`, …) and the message area.

import { html, render, useEffect, useRef, useState } from './vendor/standalone.module.js';
import { get, session, signOut } from './api.js';
import { useConnected, useLoad } from './live.js';
import { Notices, notifyError } from './ui.js';
import { Home } from './pages/home.js';
import { Live } from './pages/live.js';
import { Requests } from './pages/requests.js';
import { Report } from './pages/report.js';
import { Policies } from './pages/policies.js';
import { Recordings } from './pages/recordings.js';
import { Events } from './pages/events.js';

const PAGES = [
  { path: '/', name: 'Home', title: 'Home', component: Home },
  { path: '/live', name: 'Live', title: 'Live', component: Live },
  { path: '/requests', name: 'Requests', title: 'Requests for footage', component: Requests },
  { path: '/report', name: 'What left the house', title: 'What left the house', component: Report },
  { path: '/policies', name: 'Sharing rules', title: 'Sharing rules', component: Policies },
  { path: '/recordings', name: 'Recordings', title: 'Recordings', component: Recordings },
  { path: '/events', name: 'Events', title: 'Events', component: Events },
];

function currentPath() {
  const h = location.hash.replace(/^#/, '') || '/';
  const path = h.split('?')[0];
  return PAGES.some((p) => p.path === path) ? path : null;
}

function useRoute() {
  const [path, setPath] = useState(currentPath());
  useEffect(() => {
    const on = () => setPath(currentPath());
    addEventListener('hashchange', on);
    return () => removeEventListener('hashchange', on);
  }, []);
  return path;
}

function PendingBadge() {
  const { data } = useLoad(() => get('/api/requests'), ['request_pending', 'decision_made', 'privacy_changed'], 30000);
  const n = data ? data.pending.length : 0;
  if (!n) return null;
  return html`<span class="badge" id="pending-badge" data-count=${n}>
    ${n}<span class="visually-hidden"> waiting for your answer</span>
  </span>`;
}

function SignOut() {
  const [needed, setNeeded] = useState(false);
  useEffect(() => {
    session().then((s) => setNeeded(!!s.token_required), () => setNeeded(false));
  }, []);
  if (!needed) return null;
  return html`<button type="button" id="sign-out" class="secondary" onClick=${() => signOut().catch(notifyError)}>Sign out</button>`;
}

function Connection() {
  const on = useConnected();
  return html`<span class=${`connection ${on ? 'is-on' : 'is-off'}`} id="live-status" data-connected=${on ? 'true' : 'false'}>
    ${on ? 'Live' : 'Connecting…'}
  </span>`;
}

function Nav({ path }) {
  return html`<header class="topbar">
    <a class="skip" href="#main">Skip to the page</a>
    <div class="brand"><span aria-hidden="true">◐</span> Porchlight</div>
    <nav aria-label="Pages">
      <ul>
        ${PAGES.map((p) => html`<li>
          <a href=${`#${p.path}`} id=${`nav-${p.path === '/' ? 'home' : p.path.slice(1)}`}
             aria-current=${p.path === path ? 'page' : undefined}>
            ${p.name}${p.path === '/requests' ? html` <${PendingBadge} />` : null}
          </a>
        </li>`)}
      </ul>
    </nav>
    <div class="topbar-end"><${Connection} /><${SignOut} /></div>
  </header>`;
}

function App() {
  const path = useRoute();
  const page = PAGES.find((p) => p.path === path);
  const first = useRef(true);
  useEffect(() => {
    document.title = `${page ? page.title : 'Not found'} · Porchlight`;
    // After moving to another page, start reading (and tabbing) at the page, not the top bar.
    const main = document.getElementById('main');
    if (main && !first.current) main.focus({ preventScroll: true });
    first.current = false;
  }, [path]);
  const Page = page ? page.component : null;
  return html`
    <${Nav} path=${path} />
    <${Notices} />
    <main id="main" tabindex="-1" data-page=${page ? page.path : 'none'}>
      ${Page
        ? html`<${Page} key=${path} />`
        : html`<h1>This page does not exist</h1><p><a href="#/">Go to the home page</a>.</p>`}
    </main>`;
}

render(html`<${App} />`, document.getElementById('app'));
