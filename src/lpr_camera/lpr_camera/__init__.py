"""Camera node: frames from a video file, image folder, RTSP/USB (OpenCV), Picamera2 or a synthetic scene."""
