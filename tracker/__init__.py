"""fkd tracker: 15 facial keypoints on every face of a frame, on LiteRT alone."""
