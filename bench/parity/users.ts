import { isText, isTimestamp, recordService } from './record';

const EMAIL = /^[^\s@]+@[^\s@]+\.[^\s@]+$/;
const isUser = (user: any) =>
  isText(user?.id, 1, 64) && isText(user.name, 1, 100) && typeof user.email === 'string' &&
  user.email.length <= 254 && EMAIL.test(user.email) && isTimestamp(user.created_at) && isTimestamp(user.updated_at);

export default recordService('USERS_KV', 'user:', '/users/:id', isUser, 'user');
