package components

// Cursor is a selection in a list of N rows of which Height are visible. Pages render only
// rows[Offset:Offset+Height], which is what keeps 5,000 devices as cheap as 50.
type Cursor struct {
	Pos, Offset, Height, N int
}

// SetN changes the number of rows, keeping the selection in range.
func (c *Cursor) SetN(n int) { c.N = n; c.clamp() }

// SetHeight changes the number of visible rows.
func (c *Cursor) SetHeight(h int) { c.Height = max(h, 1); c.clamp() }

// Move moves the selection by d rows.
func (c *Cursor) Move(d int) { c.Pos += d; c.clamp() }

// Top selects the first row.
func (c *Cursor) Top() { c.Pos = 0; c.clamp() }

// Bottom selects the last row.
func (c *Cursor) Bottom() { c.Pos = c.N - 1; c.clamp() }

// Page moves by one screen.
func (c *Cursor) Page(dir int) { c.Move(dir * max(c.Height-1, 1)) }

// Visible returns the half-open range of rows on screen.
func (c *Cursor) Visible() (from, to int) { return c.Offset, min(c.Offset+c.Height, c.N) }

func (c *Cursor) clamp() {
	if c.Height < 1 {
		c.Height = 1
	}
	if c.Pos >= c.N {
		c.Pos = c.N - 1
	}
	if c.Pos < 0 {
		c.Pos = 0
	}
	if c.Pos < c.Offset {
		c.Offset = c.Pos
	}
	if c.Pos >= c.Offset+c.Height {
		c.Offset = c.Pos - c.Height + 1
	}
	if c.Offset > max(c.N-c.Height, 0) {
		c.Offset = max(c.N-c.Height, 0)
	}
	if c.Offset < 0 {
		c.Offset = 0
	}
}
