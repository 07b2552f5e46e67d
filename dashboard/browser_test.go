package dashboard

// The browser side of the tests: Debian's chromium, headless, driven with
// chromedp. The page is loaded like a user would, the numbers are read back
// from the DOM and compared with what the SQL says, and a screenshot is
// saved to $ORDERFLOW_SCREENSHOT (else the test's temporary folder).

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"
)

const chromiumPath = "/usr/bin/chromium"

var installChromium sync.Once

// ensureChromium installs Debian's chromium when it is missing (as root,
// with apt-get) and fails the test with what to do when it cannot.
func ensureChromium(t *testing.T) {
	t.Helper()
	installChromium.Do(func() {
		if _, err := os.Stat(chromiumPath); err == nil {
			return
		}
		if os.Geteuid() != 0 {
			return // reported below
		}
		t.Logf("%s is missing: installing Debian's chromium with apt-get (takes a minute or two)", chromiumPath)
		env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		install := func() ([]byte, error) {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
			defer cancel()
			cmd := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=300", "install", "-y", "chromium")
			cmd.Env = env
			return cmd.CombinedOutput()
		}
		if out, err := install(); err != nil {
			t.Logf("apt-get install chromium: %v\n%s", err, tail(out))
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			up := exec.CommandContext(ctx, "apt-get", "-o", "DPkg::Lock::Timeout=300", "update")
			up.Env = env
			if out, err := up.CombinedOutput(); err != nil {
				t.Logf("apt-get update: %v\n%s", err, tail(out))
			}
			if out, err := install(); err != nil {
				t.Logf("apt-get install chromium (after apt-get update): %v\n%s", err, tail(out))
			}
		}
	})
	if _, err := os.Stat(chromiumPath); err != nil {
		t.Fatalf("the browser test needs Debian's chromium at %s, and it is missing and could not be installed "+
			"(the test installs it when run as root with apt-get and network access to the Debian mirror). "+
			"Install it with: sudo apt-get install -y chromium", chromiumPath)
	}
}

func tail(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > 2000 {
		s = "…" + s[len(s)-2000:]
	}
	return s
}

// browser is a headless chromium tab.
type browser struct {
	ctx      context.Context
	mu       sync.Mutex
	requests []string // every URL the page asked for
	problems []string // console errors and uncaught exceptions
}

// newBrowser starts headless chromium (stopped when the test ends) with a
// window of width × height CSS pixels.
func newBrowser(t *testing.T, width, height int) *browser {
	t.Helper()
	ensureChromium(t)
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(chromiumPath),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(width, height),
	}
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	t.Cleanup(func() { cancelCtx(); cancelAlloc() })
	b := &browser{ctx: ctx}
	// The first action starts the browser and must get the tab's own context:
	// a derived one would stop the browser when it ends.
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("start chromium (%s): %v", chromiumPath, err)
	}
	// The network domain is on: every request the page makes passes here.
	err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*network.EventRequestWillBeSent); ok && e.Request != nil {
			b.mu.Lock()
			b.requests = append(b.requests, e.Request.URL)
			b.mu.Unlock()
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	// Console errors and warnings, uncaught exceptions, and the browser log
	// (where a blocked resource or a CSP violation shows).
	console := chromedp.Console(ctx)
	go func() {
		for m, err := range console {
			if err != nil {
				return
			}
			switch m.Type {
			case chromedp.ConsoleError, chromedp.ConsoleWarning, chromedp.ConsoleException:
				b.mu.Lock()
				b.problems = append(b.problems, fmt.Sprintf("%s: %s (%s)", m.Type, m.Text, m.URL))
				b.mu.Unlock()
			}
		}
	}()
	return b
}

// do runs steps with a timeout.
func (b *browser) do(t *testing.T, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("browser: %s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page into T.
func eval[T any](t *testing.T, b *browser, expr string) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		t.Fatalf("browser: evaluate: %v", err)
	}
	return v
}

// screenshot saves a full-page PNG to $ORDERFLOW_SCREENSHOT, else into the
// test's temporary folder, and returns the path.
func (b *browser) screenshot(t *testing.T) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("browser: screenshot: %v", err)
	}
	path := os.Getenv("ORDERFLOW_SCREENSHOT")
	if path == "" {
		path = filepath.Join(t.TempDir(), "dashboard.png")
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot (%d bytes) saved to %s", len(png), path)
	return path
}

// domBar is what a chart's bar says in the DOM: its data-* attributes, the
// text shown and the drawn bar's width.
type domBar struct {
	Label    string `json:"label"`
	Value    string `json:"value"`
	Pct      string `json:"pct"`
	Open     string `json:"open"`
	Resolved string `json:"resolved"`
	Text     string `json:"text"`
	Width    string `json:"width"`
}

// domRow is a row of the batches table.
type domRow struct {
	Batch    string `json:"batch"`
	Records  string `json:"records"`
	Orders   string `json:"orders"`
	Rejected string `json:"rejected"`
	Ms       string `json:"ms"`
	Text     string `json:"text"`
}

// domPage is everything the test reads back from the page.
type domPage struct {
	Generated string              `json:"generated"`
	Charts    map[string][]domBar `json:"charts"`
	Empty     map[string]string   `json:"empty"`
	Batches   []domRow            `json:"batches"`
	Tiles     map[string]string   `json:"tiles"`
	Refresh   string              `json:"refresh"`
}

const readDOM = `(() => {
  const page = {generated: document.querySelector("main").dataset.generated, charts: {}, empty: {}, tiles: {},
                batches: [], refresh: document.body.dataset.refresh};
  document.querySelectorAll("figure[data-chart]").forEach(fig => {
    const id = fig.dataset.chart;
    const empty = fig.querySelector(".empty");
    if (empty) page.empty[id] = empty.textContent.trim();
    page.charts[id] = [...fig.querySelectorAll("g.bar")].map(g => {
      const rect = g.querySelector("rect:not(.track)");
      const vals = g.querySelectorAll("text.val");
      return {label: g.dataset.label || "", value: g.dataset.value || "", pct: g.dataset.pct || "",
              open: g.dataset.open || "", resolved: g.dataset.resolved || "",
              text: vals.length ? vals[vals.length - 1].textContent.trim() : "",
              width: rect ? String(rect.getBoundingClientRect().width) : "0"};
    });
  });
  document.querySelectorAll("tr[data-batch]").forEach(tr => page.batches.push({
    batch: tr.dataset.batch, records: tr.dataset.records, orders: tr.dataset.orders,
    rejected: tr.dataset.rejected, ms: tr.dataset.ms, text: tr.innerText}));
  document.querySelectorAll("[data-tile]").forEach(d => page.tiles[d.dataset.tile] = d.querySelector(".tv").textContent.trim());
  return page;
})()`

// load opens url, waits for the charts and reads the page back.
func (b *browser) load(t *testing.T, url string) domPage {
	t.Helper()
	b.do(t, "load "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS(`figure[data-chart="batches"]`)))
	return b.read(t)
}

// read reads the current page back without reloading it.
func (b *browser) read(t *testing.T) domPage {
	t.Helper()
	return eval[domPage](t, b, readDOM)
}

// offsite returns the requests that did not go to base (a CDN, say).
func (b *browser) offsite(base string) []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, u := range b.requests {
		if !strings.HasPrefix(u, base) && !strings.HasPrefix(u, "data:") {
			out = append(out, u)
		}
	}
	return out
}

func (b *browser) issues() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return append([]string(nil), b.problems...)
}
