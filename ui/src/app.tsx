import { useEffect, useState } from 'react';
import { navigate, useLocation } from './router.ts';
import { Traffic } from './pages/traffic.tsx';
import { Detail } from './pages/detail.tsx';
import { Overview } from './pages/overview.tsx';
import { ServiceMap } from './pages/service-map.tsx';
import { Health } from './pages/health.tsx';

const NAV: [string, string][] = [['/', 'Traffic'], ['/overview', 'Overview'], ['/map', 'Service map'], ['/health', 'Data health']];

function useTheme(): [string, () => void] {
  const [theme, setTheme] = useState(() => localStorage.getItem('heimdall-theme') ?? (matchMedia('(prefers-color-scheme: dark)').matches ? 'dark' : 'light'));
  useEffect(() => {
    document.documentElement.dataset.theme = theme;
    localStorage.setItem('heimdall-theme', theme);
  }, [theme]);
  return [theme, () => setTheme((t) => (t === 'dark' ? 'light' : 'dark'))];
}

export function App() {
  const loc = useLocation();
  const [theme, toggle] = useTheme();
  const windowKey = loc.search.get('window') ?? '';
  const setParam = (key: string, value: string) => {
    const p = new URLSearchParams(loc.search);
    if (value) p.set(key, value);
    else p.delete(key);
    navigate(`${loc.path}?${p}`, { replace: true });
  };
  const setWindow = (w: string) => setParam('window', w);
  const detail = /^\/requests\/([\w-]+)$/.exec(loc.path);
  let page;
  if (detail) page = <Detail id={detail[1]} />;
  else if (loc.path === '/overview') page = <Overview windowKey={windowKey || '1h'} setWindow={setWindow} role={loc.search.get('role') ?? ''} setRole={(r) => setParam('role', r)} />;
  else if (loc.path === '/map') page = <ServiceMap windowKey={windowKey || '15m'} setWindow={setWindow} />;
  else if (loc.path === '/health') page = <Health windowKey={windowKey || '1h'} setWindow={setWindow} />;
  else page = <Traffic loc={loc} />;
  return (
    <>
      <header className="top">
        <a className="brand" href="/" onClick={(e) => { e.preventDefault(); navigate('/'); }}>Heimdall</a>
        <nav>
          {NAV.map(([href, label]) => (
            <a key={href} href={href} aria-current={(href === '/' ? loc.path === '/' || !!detail : loc.path === href) ? 'page' : undefined}
              onClick={(e) => { e.preventDefault(); navigate(href); }}>{label}</a>
          ))}
        </nav>
        <button className="theme" onClick={toggle} aria-label="Toggle light and dark">{theme === 'dark' ? '☀ Light' : '☾ Dark'}</button>
      </header>
      <main>{page}</main>
    </>
  );
}
