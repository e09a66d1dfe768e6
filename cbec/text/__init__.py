"""Policy texts: corpus loader, segmentation, coding book and coder (chapter 6)."""
