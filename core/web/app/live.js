// A view's live stream: the shared stream client (core/web/stream.js) with the app's
// session (the jwt.<token> subprotocol, refreshed once when refused) and the header's
// connection badge. close() stops it and clears the badge.
import { StreamConnection } from "../stream.js";
import { setStreamState } from "./connection.js";

function wsUrl(path) {
  return (window.location.protocol === "https:" ? "wss://" : "ws://") + window.location.host + path;
}

export function openStream(api, { path, stream, onMessage }) {
  const connection = new StreamConnection({
    url: wsUrl(path),
    stream,
    token: () => api.accessToken(),
    onAuthFailed: () => api.refresh((api.session() || {}).access),
    onState: setStreamState,
    onMessage,
  }).start();
  return {
    connection,
    close() {
      connection.close();
      setStreamState(null);
    },
  };
}
