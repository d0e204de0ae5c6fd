// Package docs holds Lectern's documentation. Its only Go file is this test, which
// checks that every relative link of the README and of the pages here leads to a file
// that exists and, when it names a heading, to a heading that exists, so that a
// renamed section cannot leave a dead link behind.
package docs

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"
)

var linkPattern = regexp.MustCompile(`\]\(([^)\s]+)\)`)

// markdown returns the lines of a Markdown file outside fenced code blocks.
func markdown(t *testing.T, path string) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	fenced := false
	for line := range strings.Lines(string(raw)) {
		if strings.HasPrefix(strings.TrimSpace(line), "```") {
			fenced = !fenced
			continue
		}
		if !fenced {
			lines = append(lines, line)
		}
	}
	return lines
}

// anchors returns the anchors GitHub makes of a file's headings: lower case, only
// letters, digits, spaces, hyphens and underscores kept, spaces made hyphens, and a
// repeated heading numbered -1, -2, ...
func anchors(lines []string) map[string]bool {
	out := map[string]bool{}
	for _, line := range lines {
		if !strings.HasPrefix(line, "#") {
			continue
		}
		text := strings.TrimSpace(strings.TrimLeft(line, "#"))
		var b strings.Builder
		for _, r := range strings.ToLower(text) {
			switch {
			case unicode.IsLetter(r) || unicode.IsDigit(r) || r == '-' || r == '_':
				b.WriteRune(r)
			case r == ' ':
				b.WriteRune('-')
			}
		}
		a := b.String()
		for i := 1; out[a]; i++ {
			a = b.String() + "-" + strconv.Itoa(i)
		}
		out[a] = true
	}
	return out
}

func TestRelativeLinksResolve(t *testing.T) {
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	files = append(files, "../README.md")
	if len(files) < 5 {
		t.Fatalf("found only %v", files)
	}
	links := 0
	for _, file := range files {
		for _, line := range markdown(t, file) {
			for _, m := range linkPattern.FindAllStringSubmatch(line, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				links++
				path, anchor, _ := strings.Cut(target, "#")
				resolved := file
				if path != "" {
					resolved = filepath.Join(filepath.Dir(file), path)
					if _, err := os.Stat(resolved); err != nil {
						t.Errorf("%s: link %q: %v", file, target, err)
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(resolved, ".md") && !anchors(markdown(t, resolved))[anchor] {
					t.Errorf("%s: link %q: %s has no heading with that anchor", file, target, resolved)
				}
			}
		}
	}
	if links < 20 {
		t.Fatalf("checked only %d links: the pattern finds nothing", links)
	}
}
