package image

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/opencontainers/go-digest"
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"
)

// progress reports layer transfers. On a terminal it draws one bar per
// layer; elsewhere (a log, a pipe, CI) it writes one line per finished
// layer, because bars redrawn with escape codes make a log unreadable.
type progress interface {
	layer(d digest.Digest, size int64) layerProgress
	wait()
}

type layerProgress interface {
	reader(io.Reader) io.Reader
	done(cached bool, err error)
}

func newProgress(w io.Writer) progress {
	if w == nil {
		return quiet{}
	}
	if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return &bars{p: mpb.New(mpb.WithOutput(w), mpb.WithWidth(30), mpb.WithRefreshRate(150*time.Millisecond))}
	}
	return &lines{w: w}
}

func short(d digest.Digest) string {
	e := d.Encoded()
	return e[:min(12, len(e))]
}

type quiet struct{}

func (quiet) layer(digest.Digest, int64) layerProgress { return quiet{} }
func (quiet) wait()                                    {}
func (quiet) reader(r io.Reader) io.Reader             { return r }
func (quiet) done(bool, error)                         {}

type lines struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lines) layer(d digest.Digest, size int64) layerProgress {
	return &line{l: l, d: d, size: size, start: time.Now()}
}
func (l *lines) wait() {}

type line struct {
	l     *lines
	d     digest.Digest
	size  int64
	start time.Time
}

func (x *line) reader(r io.Reader) io.Reader { return r }

func (x *line) done(cached bool, err error) {
	x.l.mu.Lock()
	defer x.l.mu.Unlock()
	switch {
	case err != nil:
	case cached:
		fmt.Fprintf(x.l.w, "%s: already exists\n", short(x.d))
	default:
		el := time.Since(x.start)
		fmt.Fprintf(x.l.w, "%s: pulled %s in %s (%s/s)\n", short(x.d), humanSize(x.size),
			el.Round(time.Millisecond), humanSize(int64(float64(x.size)/max(el.Seconds(), 1e-6))))
	}
}

type bars struct{ p *mpb.Progress }

func (b *bars) layer(d digest.Digest, size int64) layerProgress {
	bar := b.p.AddBar(size,
		mpb.PrependDecorators(decor.Name(short(d), decor.WC{W: 13, C: decor.DindentRight})),
		mpb.AppendDecorators(
			decor.OnComplete(decor.Counters(decor.SizeB1024(0), "% .1f / % .1f"), "done"),
			decor.OnComplete(decor.AverageSpeed(decor.SizeB1024(0), "  % .1f"), ""),
		))
	return &barLayer{bar: bar}
}

func (b *bars) wait() { b.p.Wait() }

type barLayer struct{ bar *mpb.Bar }

func (x *barLayer) reader(r io.Reader) io.Reader { return x.bar.ProxyReader(r) }

func (x *barLayer) done(cached bool, err error) {
	if err != nil {
		x.bar.Abort(false)
		return
	}
	// Complete a bar whose reads did not fill it (a cached layer).
	x.bar.SetTotal(-1, true)
}

// humanSize prints n bytes as docker does: 1000-based, three digits.
func humanSize(n int64) string {
	f := float64(n)
	for _, u := range []string{"B", "kB", "MB", "GB"} {
		if f < 1000 {
			if u == "B" {
				return fmt.Sprintf("%d%s", n, u)
			}
			return fmt.Sprintf("%.3g%s", f, u)
		}
		f /= 1000
	}
	return fmt.Sprintf("%.3gTB", f)
}
