// Empty, loading and error states that tell a newcomer what to do next.
export function EmptyTraffic() {
  const origin = window.location.origin;
  return (
    <div className="empty" data-testid="empty-state">
      <h2>No HTTP traffic captured yet</h2>
      <p>
        Heimdall has no fake producer: rows appear when the eBPF agent sees real HTTP/1.x traffic on this node. If the agent is
        running (see <a href="/health">Data health</a>), generate some traffic:
      </p>
      <pre>{`for i in $(seq 1 200); do curl -s ${origin}/healthz >/dev/null; sleep 0.1; done`}</pre>
      <p>
        Any HTTP/1.x client or server on the node is captured (nginx, Node, Python, curl…); TLS and HTTP/2 are not. The agent needs
        root. Check its log for the <code>diagnostics</code> line with <code>events</code>, <code>matched</code> and <code>drops</code>.
      </p>
    </div>
  );
}

export function Loading({ what }: { what: string }) {
  return <div className="loading" role="status">Loading {what}…</div>;
}

export function ErrorBox({ error, retry }: { error: Error; retry?: () => void }) {
  return (
    <div className="error" role="alert">
      <strong>Could not load: </strong>
      {error.message}
      {retry && <button onClick={retry}>Retry</button>}
    </div>
  );
}
