package dashboard

import (
	"context"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/orderflow/orderflow/internal/testenv"
	"github.com/orderflow/orderflow/kafkaio"
)

var bannerRE = regexp.MustCompile(`(?s)<div class="stall" role="alert"[^>]*>.*?\n</div>`)

var generatedRE = regexp.MustCompile(`<main data-generated="([^"]+)"`)

// pageBanner GETs the page and returns its stall banner ("" when none) and
// when its snapshot was read.
func pageBanner(t *testing.T, base string) (string, time.Time) {
	t.Helper()
	resp, err := http.Get(base + "/?refresh=0")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET /: %d %v\n%s", resp.StatusCode, err, body)
	}
	if i, j := strings.Index(string(body), "<main"), strings.Index(string(body), `class="stall" role="alert"`); j >= 0 && (i < 0 || j < i) {
		t.Errorf("the banner is not inside <main>, which the page's refresh replaces")
	}
	m := generatedRE.FindStringSubmatch(string(body))
	if m == nil {
		t.Fatalf("no data-generated on the page")
	}
	gen, err := time.Parse("2006-01-02T15:04:05.000Z", m[1])
	if err != nil {
		t.Fatal(err)
	}
	return bannerRE.FindString(string(body)), gen
}

// bannerAfter polls the page until its snapshot was read after `after`
// (a snapshot may be up to a refresh old) and returns that snapshot's banner.
func bannerAfter(t *testing.T, base string, after time.Time) string {
	t.Helper()
	deadline := time.Now().Add(3 * pageStale)
	for {
		b, gen := pageBanner(t, base)
		if gen.After(after) {
			return b
		}
		if time.Now().After(deadline) {
			t.Fatalf("the page shows no snapshot read after %s (last %s)", after, gen)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func addBatch(t *testing.T, pool *pgxpool.Pool, id string, ago time.Duration) time.Time {
	t.Helper()
	var at time.Time
	if err := pool.QueryRow(context.Background(), `INSERT INTO stg.batches (batch_id, shard, shards, load_dt, ranges, fetched, backlog, started_at, committed_at)
		VALUES ($1, 0, 1, now(), '[]', 3, 0, now() - $2::float8 * interval '1 second', now() - $2::float8 * interval '1 second')
		RETURNING committed_at`, id, ago.Seconds()).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

func addFailure(t *testing.T, pool *pgxpool.Pool, id, step, typ, msg string, ago time.Duration) time.Time {
	t.Helper()
	var at time.Time
	if err := pool.QueryRow(context.Background(), `INSERT INTO stg.run_failures (shard, batch_id, step, error_type, message, failed_at)
		VALUES (0, $1, $2, $3, $4, now() - $5::float8 * interval '1 second') RETURNING failed_at`, id, step, typ, msg, ago.Seconds()).Scan(&at); err != nil {
		t.Fatal(err)
	}
	return at
}

// stallPage serves the dashboard of one shard (no Kafka) on a fresh
// migrated database, until the test ends.
func stallPage(t *testing.T) (*pgxpool.Pool, *httptest.Server) {
	t.Helper()
	_, pool := testenv.MigratedPostgres(t)
	cfg := defaultConfig(t)
	cfg.Pipeline.Shards = 1
	srv := httptest.NewServer(New(cfg, pool, nil, testLogger()))
	t.Cleanup(srv.Close)
	return pool, srv
}

// TestStallBannerWhenRunsFail: two runs failed for good since the last
// commit put a red banner at the top of the page naming the error type, the
// step, the message (escaped) and since when; a commit takes it away.
func TestStallBannerWhenRunsFail(t *testing.T) {
	pool, srv := stallPage(t)

	addBatch(t, pool, "ok-1", 10*time.Minute)
	if b := bannerAfter(t, srv.URL, time.Now()); b != "" {
		t.Fatalf("one old commit, no failure, lag unknown: banner %q", b)
	}
	msg := `ERROR: relation "dds.h_user" does not exist <script>alert(1)</script>`
	since := addFailure(t, pool, "run-1", "LoadDdsVault", "BadSQL", msg, 2*time.Minute)
	if b := bannerAfter(t, srv.URL, time.Now()); b != "" {
		t.Fatalf("one failed run: banner %q", b)
	}
	addFailure(t, pool, "run-2", "LoadDdsVault", "BadSQL", msg, time.Minute)
	b := bannerAfter(t, srv.URL, time.Now())
	sinceText := since.UTC().Format("2006-01-02 15:04:05") + " UTC"
	for _, want := range []string{
		`data-error-type="BadSQL"`, `data-step="LoadDdsVault"`, `data-since="` + since.UTC().Format("2006-01-02T15:04:05Z") + `"`,
		"Pipeline stalled", "since " + sinceText, "2 runs failed for good since the last commit",
		"<code>BadSQL</code> in <code>LoadDdsVault</code>", html.EscapeString(`<script>alert(1)</script>`), "last commit ",
	} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	if strings.Contains(b, "<script>") {
		t.Errorf("the message is not escaped:\n%s", b)
	}

	// The pipeline commits again: the banner goes.
	addBatch(t, pool, "ok-2", 0)
	if b := bannerAfter(t, srv.URL, time.Now()); b != "" {
		t.Errorf("after a commit: banner %q", b)
	}
}

// TestStallBannerWhenRecordsWait: records wait in Kafka and no batch has
// committed for 3 intervals: the banner says so, with no error recorded.
func TestStallBannerWhenRecordsWait(t *testing.T) {
	ctx := context.Background()
	cfg := testenv.Config(t, 2)
	cfg.Pipeline.Shards = 1
	cfg.Pipeline.ScheduleInterval = 10 * time.Second
	pool := migrated(t, cfg.PGDSN)
	cl, err := kafkaio.NewClient(cfg.Kafka, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	srv := httptest.NewServer(New(cfg, pool, kafkaio.Admin(cl), testLogger()))
	t.Cleanup(srv.Close)

	addBatch(t, pool, "ok-1", 5*time.Minute)
	if b := bannerAfter(t, srv.URL, time.Now()); b != "" {
		t.Fatalf("an old commit and nothing waiting: banner %q", b)
	}
	recs := []*kgo.Record{}
	for range 4 {
		recs = append(recs, &kgo.Record{Topic: cfg.Kafka.InputTopic, Value: []byte(`{}`)})
	}
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	b := bannerAfter(t, srv.URL, time.Now())
	for _, want := range []string{`data-error-type="none"`, `data-step="none"`, "4 records wait and no batch has committed for 3 intervals (30s)",
		"no run has failed for good yet"} {
		if !strings.Contains(b, want) {
			t.Errorf("banner lacks %q:\n%s", want, b)
		}
	}
	addBatch(t, pool, "ok-2", 0)
	if b := bannerAfter(t, srv.URL, time.Now()); b != "" {
		t.Errorf("after a commit: banner %q", b)
	}
}

// stallDOM is the banner as the browser lays it out.
type stallDOM struct {
	Present    bool    `json:"present"`
	Text       string  `json:"text"`
	ErrorType  string  `json:"errorType"`
	Background string  `json:"background"`
	Top        float64 `json:"top"`
	TilesTop   float64 `json:"tilesTop"`
	Generated  string  `json:"generated"`
}

const readStall = `(() => {
  const s = document.querySelector(".stall"), tiles = document.querySelector(".tiles");
  const out = {present: !!s, generated: document.querySelector("main").dataset.generated,
               tilesTop: tiles ? tiles.getBoundingClientRect().top : -1};
  if (s) {
    out.text = s.innerText; out.errorType = s.dataset.errorType;
    out.background = getComputedStyle(s).backgroundColor; out.top = s.getBoundingClientRect().top;
  }
  return out;
})()`

// TestStallBannerInBrowser: in headless chromium the banner is red, above
// everything else of the page, and the page's own refresh takes it away
// once a batch commits (no reload).
func TestStallBannerInBrowser(t *testing.T) {
	pool, srv := stallPage(t)
	addBatch(t, pool, "ok-1", 10*time.Minute)
	addFailure(t, pool, "run-1", "UpsertCdm", "BadSQL", `permission denied for table user_product_counters`, 2*time.Minute)
	addFailure(t, pool, "run-2", "UpsertCdm", "BadSQL", `permission denied for table user_product_counters`, time.Minute)

	b := newBrowser(t, 1400, 1000)
	b.load(t, srv.URL+"/?refresh=1")
	s := eval[stallDOM](t, b, readStall)
	if !s.Present || s.ErrorType != "BadSQL" || !strings.Contains(strings.ToLower(s.Text), "pipeline stalled") ||
		!strings.Contains(s.Text, "BadSQL in UpsertCdm: permission denied for table user_product_counters") {
		t.Fatalf("the banner in the browser: %+v", s)
	}
	if s.Background != "rgb(254, 226, 226)" || s.Top < 0 || s.Top >= s.TilesTop {
		t.Errorf("the banner is %s at y=%.0f (tiles at y=%.0f): want red, above the tiles", s.Background, s.Top, s.TilesTop)
	}
	b.screenshot(t)

	addBatch(t, pool, "ok-2", 0)
	deadline := time.Now().Add(3 * pageStale)
	for s = eval[stallDOM](t, b, readStall); s.Present; s = eval[stallDOM](t, b, readStall) {
		if time.Now().After(deadline) {
			t.Fatalf("the banner is still on the page %s after the commit (generated %s)", 3*pageStale, s.Generated)
		}
		time.Sleep(300 * time.Millisecond)
	}
	if issues := b.issues(); len(issues) > 0 {
		t.Errorf("the browser console reports: %v", issues)
	}
}
