//! Servers: closing stops accepting but leaves connections open, `wait_closed` waits for
//! them, `start_serving` / `serve_forever`, `close_clients`.

use loop_core::ErrorKind;
use loop_core::net::ServerOptions;

use super::{Outcome, SETTLE, close_and_wait, connect, is_kind, serve};
use crate::context::{Backend, Cx};
use crate::record::{Accepted, Behaviour, Peer};

/// `close` stops listening (`sockets` empty, new connections refused) but the accepted
/// connection keeps working; `wait_closed` returns only once it is gone.
pub(crate) fn server_close_keeps_connections<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let lane = cx.lane("main");
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::echo, ServerOptions::default()).await?;
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        client.transport().write(b"before close;")?;
        client.received_at_least(13).await;
        lane.note(format!(
            "serving {}, {} connection(s)",
            server.is_serving(),
            server.active_connections()
        ));
        server.close();
        lane.note(format!(
            "closed: serving {}, {} socket(s), {} connection(s)",
            server.is_serving(),
            server.sockets().len(),
            server.active_connections()
        ));
        let waiter = {
            let s = server.clone();
            cx.lp().create_task(async move { s.wait_closed().await })
        };
        client.transport().write(b"after close")?;
        client.received_at_least(24).await;
        let late = Peer::new(cx.lane("late client"), Behaviour::default());
        let l = late.clone();
        let r = cx.net().create_connection(move || l.protocol(), addr).await;
        lane.status("a new connection", &r);
        lane.check("refused", is_kind(&r, ErrorKind::ConnectionRefused));
        lane.check("wait_closed still waiting", !waiter.done());
        close_and_wait(&client).await;
        accepted.peer(1).lost().await;
        (&waiter).await?;
        lane.note(format!(
            "wait_closed returned, {} connection(s)",
            server.active_connections()
        ));
        Ok(())
    })
}

/// `wait_closed` on a server without connections: it waits for `close`, and returns at
/// once after it; closing twice is harmless.
pub(crate) fn server_wait_closed_without_connections<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let lane = cx.lane("main");
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, _) =
            serve(cx, &accepted, Behaviour::default, ServerOptions::default()).await?;
        let waiter = {
            let (s, l) = (server.clone(), lane.clone());
            cx.lp().create_task(async move {
                s.wait_closed().await;
                l.note("wait_closed returned");
            })
        };
        cx.lp().sleep(std::time::Duration::from_millis(5)).await?;
        lane.check("waiting before close", !waiter.done());
        lane.note("close");
        server.close();
        server.close();
        (&waiter).await?;
        server.wait_closed().await;
        lane.note("wait_closed after close returned at once");
        lane.check("no connection accepted", accepted.is_empty());
        Ok(())
    })
}

/// A server created with `start_serving: false` accepts nothing until `start_serving`;
/// the connection then proceeds as usual.
pub(crate) fn server_start_serving_later<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let lane = cx.lane("main");
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) = serve(
            cx,
            &accepted,
            Behaviour::echo,
            ServerOptions::default().with_start_serving(false),
        )
        .await?;
        lane.check("not serving", !server.is_serving());
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        client.transport().write(b"queued")?;
        cx.lp().sleep(SETTLE).await?;
        lane.check("nothing accepted before start_serving", accepted.is_empty());
        lane.note("start_serving");
        server.start_serving()?;
        server.start_serving()?;
        lane.check("serving", server.is_serving());
        client.received_at_least(6).await;
        close_and_wait(&client).await;
        accepted.peer(1).lost().await;
        server.close();
        lane.status("start_serving after close", &server.start_serving());
        server.wait_closed().await;
        Ok(())
    })
}

/// `serve_forever` runs until its task is cancelled, which closes the server; a second
/// `serve_forever` meanwhile is a `RuntimeError`.
pub(crate) fn server_serve_forever_cancelled<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let lane = cx.lane("main");
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) = serve(
            cx,
            &accepted,
            Behaviour::echo,
            ServerOptions::default().with_start_serving(false),
        )
        .await?;
        let forever = {
            let s = server.clone();
            cx.lp().create_task(async move { s.serve_forever().await })
        };
        cx.lp().sleep(std::time::Duration::ZERO).await?;
        lane.check("serving", server.is_serving());
        lane.status("a second serve_forever", &server.serve_forever().await);
        let client = connect(cx, "client", Behaviour::default(), addr).await?;
        client.transport().write(b"ping")?;
        client.received_at_least(4).await;
        close_and_wait(&client).await;
        accepted.peer(1).lost().await;
        forever.cancel();
        let r = (&forever).await;
        lane.outcome("serve_forever task", &r);
        lane.note(format!(
            "after cancel: serving {}, {} socket(s)",
            server.is_serving(),
            server.sockets().len()
        ));
        server.wait_closed().await;
        Ok(())
    })
}

/// Three clients connect one after the other; `close_clients` closes every accepted
/// connection (each client sees EOF) and `wait_closed` returns once they are gone.
pub(crate) fn server_close_clients<N: Backend>(cx: &Cx<N>) -> Outcome {
    let cx2 = cx.clone();
    cx.run(async move {
        let cx = &cx2;
        let lane = cx.lane("main");
        let accepted = Accepted::new(cx.trace(), "server");
        let (server, addr) =
            serve(cx, &accepted, Behaviour::echo, ServerOptions::default()).await?;
        let mut clients = Vec::new();
        for n in 1..=3 {
            let client = connect(cx, &format!("client{n}"), Behaviour::default(), addr).await?;
            let hello = format!("client {n}");
            client.transport().write(hello.as_bytes())?;
            client.received_at_least(hello.len()).await;
            clients.push(client);
        }
        lane.note(format!("{} connection(s)", server.active_connections()));
        server.close();
        server.close_clients();
        for c in &clients {
            c.lost().await;
        }
        server.wait_closed().await;
        lane.note(format!(
            "wait_closed returned, {} connection(s)",
            server.active_connections()
        ));
        Ok(())
    })
}
