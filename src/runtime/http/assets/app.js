// runner dashboard
