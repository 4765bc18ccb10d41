"""`humannet view`: a local web app to browse a corpus (filters, thumbnails, clips with keypoints drawn over them)."""
