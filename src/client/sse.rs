//! Server-sent events, read off a hyper response body.
//!
//! The format is a handful of text lines per event, so a small parser here
//! beats another dependency. Only the `data` field matters to the CLI: the
//! daemon's event JSON already carries its sequence number and type, so the
//! `id`, `event` and `retry` fields are read past, as are comments (the
//! daemon's `:keepalive` lines). Lines end in `\n` or `\r\n`; a body chunk
//! may end anywhere, even inside a line, so an incomplete line waits for the
//! next chunk.

use std::collections::VecDeque;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use futures_core::Stream;
use hyper::body::{Body as _, Incoming};

use super::ClientError;

/// The `data` payloads of a server-sent-event stream, in order.
pub(super) struct ServerSentEvents {
    /// The response body the events arrive on.
    body: Incoming,
    /// Turns body bytes into event payloads.
    parser: Parser,
    /// Why the stream broke, handed out after the events parsed before it.
    failure: Option<ClientError>,
    /// The body has ended (or broken): nothing more will arrive.
    done: bool,
}

impl ServerSentEvents {
    /// Reads events off `body`, the body of a `text/event-stream` answer.
    pub(super) fn new(body: Incoming) -> Self {
        Self { body, parser: Parser::default(), failure: None, done: false }
    }
}

impl Stream for ServerSentEvents {
    type Item = Result<String, ClientError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = &mut *self;
        loop {
            if let Some(data) = this.parser.ready.pop_front() {
                return Poll::Ready(Some(Ok(data)));
            }
            if let Some(failure) = this.failure.take() {
                return Poll::Ready(Some(Err(failure)));
            }
            if this.done {
                return Poll::Ready(None);
            }
            match ready!(Pin::new(&mut this.body).poll_frame(cx)) {
                Some(Ok(frame)) => {
                    // Trailers carry no events.
                    let fed = frame.into_data().map_or(Ok(()), |chunk| this.parser.feed(&chunk));
                    if let Err(message) = fed {
                        this.done = true;
                        this.failure = Some(ClientError::Protocol(message));
                    }
                }
                Some(Err(err)) => {
                    this.done = true;
                    this.failure = Some(ClientError::Protocol(format!("the event stream broke off: {err}")));
                }
                // An event not ended by a blank line is dropped, as the SSE spec says.
                None => this.done = true,
            }
        }
    }
}

/// The SSE line parser, fed with chunks of the body.
#[derive(Debug, Default)]
struct Parser {
    /// The start of a line whose end has not arrived yet.
    partial: Vec<u8>,
    /// The data lines of the event being read, joined with `\n`; `None`
    /// until a `data` field arrives, since an event without one is not dispatched.
    data: Option<String>,
    /// Complete events not handed out yet.
    ready: VecDeque<String>,
}

impl Parser {
    /// Takes in one chunk of the body; complete events land in `ready`.
    fn feed(&mut self, chunk: &[u8]) -> Result<(), String> {
        self.partial.extend_from_slice(chunk);
        let mut start = 0;
        while let Some(offset) = self.partial[start..].iter().position(|&byte| byte == b'\n') {
            let end = start + offset;
            let line = self.partial[start..end].strip_suffix(b"\r").unwrap_or(&self.partial[start..end]);
            let line = std::str::from_utf8(line)
                .map_err(|err| format!("the event stream holds a line that is not UTF-8: {err}"))?
                .to_owned();
            self.line(&line);
            start = end + 1;
        }
        self.partial.drain(..start);
        Ok(())
    }

    /// Takes in one complete line, without its line ending.
    fn line(&mut self, line: &str) {
        if line.is_empty() {
            if let Some(data) = self.data.take() {
                self.ready.push_back(data);
            }
            return;
        }
        if line.starts_with(':') {
            return;
        }
        let (field, value) = match line.split_once(':') {
            Some((field, value)) => (field, value.strip_prefix(' ').unwrap_or(value)),
            None => (line, ""),
        };
        if field == "data" {
            match &mut self.data {
                Some(data) => {
                    data.push('\n');
                    data.push_str(value);
                }
                None => self.data = Some(value.to_owned()),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Parser;

    fn parse(chunks: &[&[u8]]) -> Vec<String> {
        let mut parser = Parser::default();
        for chunk in chunks {
            parser.feed(chunk).expect("valid stream");
        }
        parser.ready.into_iter().collect()
    }

    #[test]
    fn joins_data_lines_and_skips_comments_and_other_fields() {
        let stream: &[u8] = b":keepalive\n\nid: 7\nevent: session_opened\ndata: {\"a\":1}\n\ndata: one\ndata:two\n\n";
        assert_eq!(parse(&[stream]), ["{\"a\":1}", "one\ntwo"]);
    }

    #[test]
    fn lines_split_across_chunks_and_crlf_endings() {
        assert_eq!(parse(&[b"da", b"ta: hel", b"lo\r", b"\n\r\n", b"data: x\n", b"\n"]), ["hello", "x"]);
    }

    #[test]
    fn an_event_without_data_or_without_its_blank_line_is_not_dispatched() {
        assert_eq!(parse(&[b"event: ping\nid: 3\n\ndata: unfinished\n"]), Vec::<String>::new());
    }

    #[test]
    fn an_empty_data_field_is_an_empty_payload() {
        assert_eq!(parse(&[b"data\n\n", b"data:\n\n"]), ["", ""]);
    }

    #[test]
    fn invalid_utf8_is_an_error() {
        assert!(Parser::default().feed(b"data: \xff\n\n").is_err());
    }
}
