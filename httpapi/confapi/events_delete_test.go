package confapi_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"

	"github.com/lectern/lectern/core/conference"
	"github.com/lectern/lectern/httpapi/confapi"
)

// stepInEngine runs step right after the n-th GetConference (counting from 1) returns.
type stepInEngine struct {
	*conference.Engine
	calls atomic.Int32
	n     atomic.Int32 // 0: never
	step  func()
}

func (s *stepInEngine) GetConference(ctx context.Context, id string) (conference.Info, error) {
	info, err := s.Engine.GetConference(ctx, id)
	if s.calls.Add(1) == s.n.Load() {
		s.step()
	}
	return info, err
}

// An event stream whose conference is deleted as it opens (between the handler's look
// at the conference and its subscription) is refused. It was answered 200 and never
// ended, since the delete had already ended the conference's subscriptions, and it
// then carried the events of a conference created later with the same id, content
// keys included.
func TestEventStreamOpenedAsItsConferenceIsDeleted(t *testing.T) {
	var step *stepInEngine
	deleted := make(chan error, 1)
	e := newEnvWith(t, envOptions{engine: func(eng *conference.Engine) confapi.Engine {
		step = &stepInEngine{Engine: eng, step: func() { deleted <- eng.DeleteConference(context.Background(), "live") }}
		return step
	}})
	presenter, _ := e.conference("live")
	step.n.Store(step.calls.Load() + 2) // the token's scope check, then the handler's look
	resp, _ := e.tryStream(t, presenter)
	select {
	case err := <-deleted:
		if err != nil {
			t.Fatalf("delete: %v", err)
		}
	default:
		t.Fatal("the delete never ran: the test tested nothing")
	}
	if resp.StatusCode != http.StatusNotFound {
		t.Fatalf("event stream of a conference deleted as it opened: %d, want 404", resp.StatusCode)
	}
}
