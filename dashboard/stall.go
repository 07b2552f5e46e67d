package dashboard

import (
	"fmt"

	"github.com/orderflow/orderflow/health"
)

// stallBanner is the red banner at the top of the page while the pipeline
// is stalled (CONTRACT §10; the rule is health.Judge). It is read with the rest
// of the page, so it goes with the first snapshot after a commit.
type stallBanner struct {
	Shard      int
	ErrorType  string // the newest failed run's type since the shard's last commit; "none"
	Step       string // its step; "none"
	Message    string // its message (cut by health.MaxStallMessage); "" when none
	Headline   string // why: "shard 0: 3 runs failed for good since the last commit"
	NoFailure  string // said instead of the error when no run failed for good
	Since      string // UTC, to the second
	SinceISO   string // RFC 3339, for data-since
	Ago        string
	LastCommit string // "last commit 2026-… (5m ago)" or "no batch has committed yet"
	Others     int    // further stalled shards
}

// stallBannerOf is the banner for st; nil while nothing is stalled.
func stallBannerOf(st health.Stall) *stallBanner {
	if !st.Stalled {
		return nil
	}
	sh := st.First()
	b := &stallBanner{
		Shard:     sh.Shard,
		ErrorType: sh.ErrorType(),
		Step:      sh.Step(),
		Headline:  sh.Headline(st.Interval),
		Since:     sh.Since.UTC().Format("2006-01-02 15:04:05") + " UTC",
		SinceISO:  sh.Since.UTC().Format("2006-01-02T15:04:05Z"),
		Ago:       ago(st.Now.Sub(sh.Since)),
		Others:    len(st.Shards) - 1,
	}
	if sh.Since.IsZero() {
		b.Since, b.SinceISO, b.Ago = "an unknown time", "", "?"
	}
	if sh.Last != nil {
		b.Message = sh.Last.Message
	} else {
		b.NoFailure = sh.LastError()
	}
	b.LastCommit = "no batch has committed yet"
	if !st.LastCommit.IsZero() {
		b.LastCommit = fmt.Sprintf("last commit %s UTC (%s)", st.LastCommit.UTC().Format("2006-01-02 15:04:05"), ago(st.Now.Sub(st.LastCommit)))
	}
	return b
}
