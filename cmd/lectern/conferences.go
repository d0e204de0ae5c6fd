package main

import (
	"fmt"
	"net/url"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lectern/lectern/cmd/internal/duration"
)

// The JSON shapes of the API that the CLI reads (docs/openapi.yaml).

type tokenResponse struct {
	Token      string    `json:"token"`
	ID         string    `json:"id"`
	Role       string    `json:"role"`
	Conference string    `json:"conference,omitempty"`
	Subject    string    `json:"subject,omitempty"`
	ExpiresAt  time.Time `json:"expires_at"`
}

type conferenceInfo struct {
	ID        string    `json:"id"`
	Organizer string    `json:"organizer"`
	OrgHash   string    `json:"organizer_hash"`
	Created   time.Time `json:"created"`
	Expires   time.Time `json:"expires"`
	Ended     time.Time `json:"ended,omitzero"`
}

type contentInfo struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	URL  string `json:"url"`
}

// maxTokenTTL is the longest lifetime the server grants (httpapi.MaxTokenTTL, which
// TestTokenTTL checks), repeated so that the CLI does not link the server's HTTP stack
// for one constant.
const maxTokenTTL = 366 * 24 * time.Hour

func (a *app) tokenCommand() *cobra.Command {
	var role, conf, subject string
	var ttl duration.Value
	c := &cobra.Command{
		Use:   "token --role ROLE [--conference ID] [--subject S] [--ttl 12h|365d]",
		Short: "Mint a token (admin; a presenter may mint attendee tokens of its conference)",
		Long: `Mint a signed, expiring token with POST /v1/tokens. The token alone is printed on
stdout, so that it can be captured:

  export LECTERN_TOKEN=$(lectern token --token-file lectern-data/config/admin-token \
      --role presenter --conference demo --subject sip:alice@example.com)

Roles: admin (global, or of one conference), presenter (also "organizer"), attendee.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			life := time.Duration(ttl)
			given := cmd.Flags().Changed("ttl")
			if given && life <= 0 || life%time.Second != 0 || life > maxTokenTTL {
				return usagef("--ttl must be a whole number of seconds up to %s, e.g. 12h, 90m or 365d", duration.Format(maxTokenTTL))
			}
			switch role {
			case "presenter", "organizer", "attendee":
				// Only an admin token may be global; the server would answer 400, but a
				// missing flag is the command line's mistake (exit 2, like any required flag).
				if conf == "" {
					return usagef("a %s token needs --conference (only an admin token may be global)", role)
				}
			}
			req := map[string]any{"role": role, "conference": conf, "subject": subject}
			if given {
				req["ttl_seconds"] = int64(life / time.Second)
			}
			var resp tokenResponse
			if err := a.call(cmd.Context(), "POST", "/v1/tokens", req, &resp); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(resp)
			}
			scope := "all conferences"
			if resp.Conference != "" {
				scope = "conference " + resp.Conference
			}
			fmt.Fprintf(a.stderr, "%s token for %s, expires %s\n", resp.Role, scope, resp.ExpiresAt.Local().Format(time.RFC3339))
			fmt.Fprintln(a.stdout, resp.Token)
			return nil
		},
	}
	c.Flags().StringVar(&role, "role", "", "admin, presenter (organizer) or attendee")
	c.Flags().StringVar(&conf, "conference", "", "conference the token is scoped to (required except for a global admin token)")
	c.Flags().StringVar(&subject, "subject", "", "who the token is for (recorded as createdby/UploadedBy), e.g. sip:alice@example.com")
	c.Flags().Var(&ttl, "ttl", "lifetime, e.g. 90m, 12h or 365d, at most 366d (default: the server's, 12h)")
	_ = c.MarkFlagRequired("role")
	return c
}

func (a *app) conferenceCommand() *cobra.Command {
	var id, organizer, expires string
	create := &cobra.Command{
		Use:   "create --organizer URI [--id ID] [--expires RFC3339]",
		Short: "Create a conference (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			req := map[string]any{"id": id, "organizer": organizer}
			if expires != "" {
				t, err := time.Parse(time.RFC3339, expires)
				if err != nil {
					return usagef("--expires must be an RFC 3339 time such as 2026-12-31T18:00:00Z")
				}
				req["expires"] = t
			}
			var info conferenceInfo
			if err := a.call(cmd.Context(), "POST", "/v1/conferences", req, &info); err != nil {
				return err
			}
			return a.printConferences(info)
		},
	}
	create.Flags().StringVar(&id, "id", "", "conference id: 1-64 of a-z 0-9 '-' (default: a random one)")
	create.Flags().StringVar(&organizer, "organizer", "", "the organizer's URI, e.g. sip:alice@example.com")
	create.Flags().StringVar(&expires, "expires", "", "expiry time, RFC 3339 (default: the server's, 14 days)")
	_ = create.MarkFlagRequired("organizer")

	list := &cobra.Command{
		Use:   "list",
		Short: "List conferences (admin)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct {
				Conferences []conferenceInfo `json:"conferences"`
			}
			if err := a.call(cmd.Context(), "GET", "/v1/conferences", nil, &resp); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(resp)
			}
			return a.printConferences(resp.Conferences...)
		},
	}
	get := &cobra.Command{
		Use:   "get ID",
		Short: "Show one conference",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info conferenceInfo
			if err := a.call(cmd.Context(), "GET", "/v1/conferences/"+url.PathEscape(args[0]), nil, &info); err != nil {
				return err
			}
			return a.printConferences(info)
		},
	}
	del := &cobra.Command{
		Use:   "delete ID",
		Short: "Delete a conference with all its metadata and content (admin)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := a.call(cmd.Context(), "DELETE", "/v1/conferences/"+url.PathEscape(args[0]), nil, nil); err != nil {
				return err
			}
			fmt.Fprintf(a.stderr, "conference %s deleted\n", args[0])
			return nil
		},
	}
	end := &cobra.Command{
		Use:   "end ID",
		Short: "End a conference: it accepts no more changes (presenter)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var info conferenceInfo
			if err := a.call(cmd.Context(), "POST", "/v1/conferences/"+url.PathEscape(args[0])+"/end", nil, &info); err != nil {
				return err
			}
			return a.printConferences(info)
		},
	}
	return groupCommand("conference", "Create, list, show, end and delete conferences", create, list, get, end, del)
}

func (a *app) printConferences(list ...conferenceInfo) error {
	if a.jsonOutput() {
		if len(list) == 1 {
			return a.printJSON(list[0])
		}
		return a.printJSON(list)
	}
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tORGANIZER\tCREATED\tEXPIRES\tENDED")
	for _, c := range list {
		ended := "-"
		if !c.Ended.IsZero() {
			ended = c.Ended.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", c.ID, c.Organizer, c.Created.UTC().Format(time.RFC3339), c.Expires.UTC().Format(time.RFC3339), ended)
	}
	return tw.Flush()
}

func (a *app) contentCommand() *cobra.Command {
	var conf string
	list := &cobra.Command{
		Use:   "list --conference ID",
		Short: "List a conference's stored content files (presenter)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			var resp struct {
				Content []contentInfo `json:"content"`
			}
			if err := a.call(cmd.Context(), "GET", "/v1/conferences/"+url.PathEscape(conf)+"/content", nil, &resp); err != nil {
				return err
			}
			if a.jsonOutput() {
				return a.printJSON(resp)
			}
			tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(tw, "NAME\tSIZE\tURL")
			for _, c := range resp.Content {
				fmt.Fprintf(tw, "%s\t%d\t%s\n", c.Name, c.Size, c.URL)
			}
			return tw.Flush()
		},
	}
	list.Flags().StringVar(&conf, "conference", "", "conference id")
	_ = list.MarkFlagRequired("conference")
	return groupCommand("content", "List stored content", list)
}
