package stream

import (
	"context"
	"log/slog"

	xslog "golang.org/x/exp/slog"
)

// tusdLogger passes tusd's warnings and errors to the server's logger. tusd v2.8.0 logs
// through golang.org/x/exp/slog, whose types are not log/slog's, so a small bridge is
// needed; its per-request info lines (RequestIncoming, ChunkWriteStart, …) are dropped
// because the HTTP tier logs every request already.
func tusdLogger(l *slog.Logger) *xslog.Logger {
	return xslog.New(bridge{l: l})
}

type bridge struct {
	l     *slog.Logger
	attrs []slog.Attr
}

func (b bridge) Enabled(_ context.Context, lv xslog.Level) bool { return lv >= xslog.LevelWarn }

func (b bridge) Handle(ctx context.Context, r xslog.Record) error {
	attrs := append([]slog.Attr(nil), b.attrs...)
	r.Attrs(func(a xslog.Attr) bool {
		attrs = append(attrs, slog.String(a.Key, a.Value.String()))
		return true
	})
	b.l.LogAttrs(ctx, slog.Level(r.Level), "tusd: "+r.Message, attrs...)
	return nil
}

func (b bridge) WithAttrs(as []xslog.Attr) xslog.Handler {
	n := bridge{l: b.l, attrs: append([]slog.Attr(nil), b.attrs...)}
	for _, a := range as {
		n.attrs = append(n.attrs, slog.String(a.Key, a.Value.String()))
	}
	return n
}

func (b bridge) WithGroup(string) xslog.Handler { return b }
